"""Requests to URLs that users give us (image inputs, webhook endpoints), safe against SSRF.

Every address a name resolves to must be public (no loopback, private, link-local, shared,
multicast, reserved or cloud-metadata address, in any notation, IPv4-mapped or not), unless an
operator allowed its network in BANANASITE_FETCH_ALLOW_NETWORKS. The connection goes to the very
address that was checked (the URL is rewritten to the IP, with Host and TLS SNI set to the
name), so DNS cannot answer differently the second time. Redirects are followed by hand, at most
three, each checked again. Bytes and time are capped while streaming. Proxies from the
environment are ignored.

Written by hand because no maintained library does all of this over httpx; the pieces that are
easy to get wrong (IP classification) come from the standard library's `ipaddress`.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings

from bananasite.errors import AppError

MAX_REDIRECTS = 3
DEFAULT_PORTS = {"http": 80, "https": 443}


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


@lru_cache(maxsize=8)
def _allowed_networks(raw: str) -> tuple:
    networks = []
    for item in raw.split(","):
        if item.strip():
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
    return tuple(networks)


def allowed_networks() -> tuple:
    raw = settings.BANANASITE_FETCH_ALLOW_NETWORKS
    return _allowed_networks(",".join(raw) if isinstance(raw, list | tuple) else raw)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        for embedded in (ip.ipv4_mapped, ip.sixtofour):
            if embedded is not None:
                return is_public(str(embedded))
        if ip.teredo:
            return False
    if any(ip in net for net in allowed_networks()):
        return True
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


def check_url(url: str) -> tuple[str, str, int, str]:
    """Validate a URL and pick the address to connect to: (scheme, host, port, ip)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchForbidden("That is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise FetchForbidden("Only http and https URLs can be fetched.")
    if parts.username or parts.password:
        raise FetchForbidden("URLs with a user name or password are not fetched.")
    host = parts.hostname
    if not host:
        raise FetchForbidden("That URL has no host.")
    port = port or DEFAULT_PORTS[scheme]
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise FetchFailed(f"The host {host} could not be found.") from None
    if not addresses:
        raise FetchFailed(f"The host {host} could not be found.")
    if not all(is_public(a) for a in addresses):
        raise FetchForbidden("That URL points to a private or reserved network address.")
    # Networks the operator trusts (an intranet asset server, a test) may use any port.
    trusted = all(_in_allowed(a) for a in addresses)
    if port != DEFAULT_PORTS[scheme] and not trusted:
        raise FetchForbidden("Only the default port of http or https is allowed.")
    return scheme, host, port, addresses[0]


def _in_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return any(ip in net for net in allowed_networks())


def _pinned(url: str, scheme: str, host: str, port: int, ip: str) -> tuple[str, dict, dict]:
    parts = urlsplit(url)
    ip_host = f"[{ip}]" if ":" in ip else ip
    pinned = urlunsplit((scheme, f"{ip_host}:{port}", parts.path or "/", parts.query, ""))
    headers = {"Host": host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"}
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    return pinned, headers, extensions


def _client(timeout: float) -> httpx.Client:
    # trust_env=False: never send a user's URL through a proxy from the environment.
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)


def safe_request(
    method: str,
    url: str,
    *,
    max_bytes: int,
    timeout: float = 15.0,
    headers: dict | None = None,
    content: bytes | None = None,
) -> Fetched:
    """One request (following up to three checked redirects for GET), capped in size and time."""
    deadline = time.monotonic() + timeout
    with _client(timeout) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            scheme, host, port, ip = check_url(url)
            target, pinned_headers, extensions = _pinned(url, scheme, host, port, ip)
            request = client.build_request(
                method,
                target,
                headers={**(headers or {}), **pinned_headers},
                content=content,
                extensions=extensions,
            )
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException:
                raise FetchFailed("The server took too long to answer.") from None
            except httpx.HTTPError:
                raise FetchFailed("The server could not be reached.") from None
            try:
                if response.is_redirect and method == "GET":
                    location = response.headers.get("location", "")
                    url = urljoin(url, location)
                    continue
                body = bytearray()
                try:
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > max_bytes:
                            raise FetchFailed(
                                f"The file is larger than {max_bytes // (1024 * 1024)} MB."
                            )
                        if time.monotonic() > deadline:
                            raise FetchFailed("The server took too long to send the file.")
                except httpx.HTTPError:
                    raise FetchFailed("The download was interrupted.") from None
                return Fetched(
                    url=url,
                    status=response.status_code,
                    content=bytes(body),
                    content_type=response.headers.get("content-type", ""),
                )
            finally:
                response.close()
    raise FetchFailed(f"More than {MAX_REDIRECTS} redirects.")


def fetch_image(url: str) -> bytes:
    """The bytes behind an image URL, or a FetchForbidden/FetchFailed with a clear message."""
    fetched = safe_request(
        "GET",
        url,
        max_bytes=settings.BANANASITE_MAX_UPLOAD_BYTES,
        timeout=settings.BANANASITE_FETCH_TIMEOUT,
    )
    if fetched.status != 200:
        raise FetchFailed(f"The server answered {fetched.status} for that image URL.")
    return fetched.content
