"""Requests to URLs that users give us (image inputs, webhook endpoints), safe against SSRF.

Every address a name resolves to must be public, unless an operator allowed its network in
BANANASITE_FETCH_ALLOW_NETWORKS. "Public" is decided by this module's own table of refused
networks (IANA's special-purpose registries for IPv4 and IPv6, with the address embedded in an
IPv4-mapped, NAT64 or 6to4 address checked in its place), not by `ipaddress`'s `is_private` or
`is_global`, whose tables have been wrong in released Pythons (CVE-2024-4032) and may change
again; only parsing and `in` come from `ipaddress`. The connection goes to the very address
that was checked (the URL is rewritten to the IP, with Host and TLS SNI set to the name), so DNS
cannot answer differently the second time. Redirects are followed by hand, at most three, each
checked again. Proxies from the environment are ignored.

One wall-clock deadline covers the whole exchange: the name lookup, connecting, TLS, sending,
the response headers, the body and every redirect. Per-operation timeouts are not enough: a
server that sends its headers one line at a time resets a read timeout with every line.

Written by hand because no maintained library does all of this; it uses httpcore (the engine
under httpx) directly because its network backends are the public place to bound every socket
operation by the deadline.
"""

import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpcore
from django.conf import settings
from django.utils.translation import gettext as _

from bananasite.errors import AppError

MAX_REDIRECTS = 3
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
# What may stay as it is in a path or query; the rest (spaces, non-ASCII) is percent-encoded,
# as browsers do. "%" is kept, so what is already encoded is not encoded twice.
URL_SAFE = "/%:@!$&'()*+,;=~?"
WRITE_CHUNK = 16 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IANA IPv4 Special-Purpose Address Registry (the blocks that are not globally reachable), with
# multicast and the reserved block.
REFUSED_IPV4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved
        "255.255.255.255/32",  # limited broadcast
    )
)
# IANA IPv6 Special-Purpose Address Registry, plus what lies outside global unicast.
REFUSED_IPV6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/128",  # unspecified
        "::1/128",  # loopback
        "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, benchmarking, ...)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing (SRv6) SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
# Global unicast, the only IPv6 block IANA allocates to the public internet.
GLOBAL_UNICAST_IPV6 = ipaddress.IPv6Network("2000::/3")
# IPv6 addresses that carry an IPv4 address, and where it sits (bits from the right): such an
# address reaches that IPv4 address, so that address decides.
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


class FetchForbidden(AppError):
    code = "image_url_forbidden"


class FetchFailed(AppError):
    code = "image_fetch_failed"


@dataclass
class Fetched:
    url: str
    status: int
    content: bytes
    content_type: str


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to. Tests replace this one function."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _resolve_by(host: str, port: int, deadline: float) -> list[str]:
    """`resolve`, given up on at the deadline: the name's own DNS server (the person who gave us
    the URL may run it) could otherwise hold us as long as the resolver waits."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch-dns")
    try:
        future = pool.submit(resolve, host, port)
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        raise FetchFailed(_("Looking up %(host)s took too long.") % {"host": host}) from None
    finally:
        pool.shutdown(wait=False)  # a lookup that overran ends on its own, after the resolver


@lru_cache(maxsize=8)
def _allowed_networks(raw: str) -> tuple[IPNetwork, ...]:
    return tuple(
        ipaddress.ip_network(item.strip(), strict=False) for item in raw.split(",") if item.strip()
    )


def allowed_networks() -> tuple[IPNetwork, ...]:
    raw = settings.BANANASITE_FETCH_ALLOW_NETWORKS
    return _allowed_networks(",".join(raw) if isinstance(raw, list | tuple) else raw)


def _parse(address: str) -> IPAddress:
    return ipaddress.ip_address(address.split("%")[0])  # without an IPv6 zone id


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4 address reaches."""
    if ip in IPV4_MAPPED or ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    return None


def _in_allowed(ip: IPAddress) -> bool:
    return any(ip.version == net.version and ip in net for net in allowed_networks())


def is_public(address: str) -> bool:
    """May we connect to this address? By the tables above and the operator's allowlist only."""
    ip = _parse(address)
    if _in_allowed(ip):
        return True
    if isinstance(ip, ipaddress.IPv4Address):
        return not any(ip in net for net in REFUSED_IPV4)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return is_public(str(embedded))
    if any(ip in net for net in REFUSED_IPV6):
        return False
    return ip in GLOBAL_UNICAST_IPV6


def check_url(url: str, *, deadline: float | None = None) -> tuple[str, str, int, str]:
    """Validate a URL and pick the address to connect to: (scheme, host, port, ip). The name
    lookup ends by `deadline` (a time.monotonic() instant; default BANANASITE_FETCH_TIMEOUT)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchForbidden(_("That is not a valid URL.")) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise FetchForbidden(_("Only http and https URLs can be fetched."))
    if parts.username or parts.password:
        raise FetchForbidden(_("URLs with a user name or password are not fetched."))
    if not parts.hostname:
        raise FetchForbidden(_("That URL has no host."))
    try:
        host = parts.hostname.encode("idna").decode("ascii")  # as DNS, Host and SNI need it
    except UnicodeError:
        raise FetchForbidden(_("That URL's host name is not valid.")) from None
    port = port or DEFAULT_PORTS[scheme]
    if deadline is None:
        deadline = time.monotonic() + settings.BANANASITE_FETCH_TIMEOUT
    try:
        addresses = _resolve_by(host, port, deadline)
    except (OSError, UnicodeError):
        raise FetchFailed(_("The host %(host)s could not be found.") % {"host": host}) from None
    if not addresses:
        raise FetchFailed(_("The host %(host)s could not be found.") % {"host": host})
    if not all(is_public(a) for a in addresses):
        raise FetchForbidden(_("That URL points to a private or reserved network address."))
    # Networks the operator trusts (an intranet asset server, a test) may use any port.
    trusted = all(_in_allowed(_parse(a)) for a in addresses)
    if port != DEFAULT_PORTS[scheme] and not trusted:
        raise FetchForbidden(_("Only the default port of http or https is allowed."))
    return scheme, host, port, addresses[0]


def _pinned(url: str, scheme: str, host: str, port: int, ip: str) -> tuple[str, dict, dict]:
    parts = urlsplit(url)
    ip_host = f"[{ip}]" if ":" in ip else ip
    path, query = quote(parts.path or "/", safe=URL_SAFE), quote(parts.query, safe=URL_SAFE)
    pinned = urlunsplit((scheme, f"{ip_host}:{port}", path, query, ""))
    headers = {"host": host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"}
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    return pinned, headers, extensions


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self.stream = stream
        self.deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise error("the exchange's deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # In pieces, so that a peer that takes our bytes slowly cannot stretch one write.
        for start in range(0, len(buffer), WRITE_CHUNK):
            piece = buffer[start : start + WRITE_CHUNK]
            self.stream.write(piece, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # CPython bounds a whole handshake by the socket's timeout, not each read within it.
        left = self._left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self.stream.start_tls(ssl_context, server_hostname, left), self.deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: float) -> None:
        self.backend = httpcore.SyncBackend()
        self.deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the exchange's deadline passed")
        stream = self.backend.connect_tcp(
            host,
            port,
            left if timeout is None else min(timeout, left),
            local_address,
            socket_options,
        )
        return _DeadlineStream(stream, self.deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError(_("Unix sockets are not fetched."))

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.deadline - time.monotonic())))


def _header(response: httpcore.Response, name: str) -> str:
    wanted = name.encode().lower()
    for key, value in response.headers:
        if key.lower() == wanted:
            return value.decode("latin-1")
    return ""


def _read_body(response: httpcore.Response, max_bytes: int) -> bytes:
    too_large = FetchFailed(
        _("The file is larger than %(value)s MB.") % {"value": max_bytes // (1024 * 1024)}
    )
    declared = _header(response, "content-length")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    try:
        for chunk in response.iter_stream():
            body += chunk
            if len(body) > max_bytes:
                raise too_large
    except httpcore.TimeoutException:
        raise FetchFailed(_("The server took too long to send the file.")) from None
    except (httpcore.NetworkError, httpcore.ProtocolError):
        raise FetchFailed(_("The download was interrupted.")) from None
    return bytes(body)


def safe_request(
    method: str,
    url: str,
    *,
    max_bytes: int,
    timeout: float = 15.0,
    deadline: float | None = None,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> Fetched:
    """One request (following up to three checked redirects for GET), capped in size, and over
    by `timeout` seconds from now (or the earlier `deadline`, a time.monotonic() instant) from
    the name lookup to the last byte."""
    ends = time.monotonic() + timeout
    if deadline is not None:
        ends = min(ends, deadline)
    sent_headers = {
        "user-agent": "bananasite",
        # Bytes as they are on the wire: the size cap counts what we keep.
        "accept-encoding": "identity",
        **{key.lower(): value for key, value in (headers or {}).items()},
    }
    # A pool of its own: connections die with the exchange, and no proxy is ever used.
    with httpcore.ConnectionPool(network_backend=_DeadlineBackend(ends)) as pool:
        for _hop in range(MAX_REDIRECTS + 1):
            scheme, host, port, ip = check_url(url, deadline=ends)
            target, pinned_headers, extensions = _pinned(url, scheme, host, port, ip)
            left = max(0.0, ends - time.monotonic())
            extensions["timeout"] = {"connect": left, "read": left, "write": left, "pool": left}
            try:
                with pool.stream(
                    method,
                    target,
                    headers=list({**sent_headers, **pinned_headers}.items()),
                    content=content,
                    extensions=extensions,
                ) as response:
                    location = _header(response, "location")
                    if response.status in REDIRECT_STATUSES and location and method == "GET":
                        url = urljoin(url, location)
                        continue
                    return Fetched(
                        url=url,
                        status=response.status,
                        content=_read_body(response, max_bytes),
                        content_type=_header(response, "content-type"),
                    )
            except httpcore.TimeoutException:
                raise FetchFailed(_("The server took too long to answer.")) from None
            except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol):
                raise FetchFailed(_("The server could not be reached.")) from None
    raise FetchFailed(
        _("More than %(max_redirects)s redirects.") % {"max_redirects": MAX_REDIRECTS}
    )


def fetch_image(url: str, *, deadline: float | None = None) -> bytes:
    """The bytes behind an image URL, or a FetchForbidden/FetchFailed with a clear message.
    `deadline` (a time.monotonic() instant) lets a request with several URLs share one."""
    fetched = safe_request(
        "GET",
        url,
        max_bytes=settings.BANANASITE_MAX_UPLOAD_BYTES,
        timeout=settings.BANANASITE_FETCH_TIMEOUT,
        deadline=deadline,
    )
    if fetched.status != 200:
        raise FetchFailed(
            _("The server answered %(status)s for that image URL.") % {"status": fetched.status}
        )
    return fetched.content
