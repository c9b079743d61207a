"""Image URLs are fetched safely: public addresses only, in any notation, redirects checked,
the whole exchange over by one deadline."""

import ipaddress
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import bananasite.fetch as fetch
from bananasite.fetch import FetchFailed, FetchForbidden, fetch_image, is_public, safe_request
from conftest import sample_bytes

PNG = sample_bytes("chelsea.png")


class ImageServer(BaseHTTPRequestHandler):
    requests: list[tuple[str, str]] = []  # (path, Host) of each request

    def do_GET(self):
        ImageServer.requests.append((self.path, self.headers["Host"]))
        if self.path.startswith("/redirect-to/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/redirect-to/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/huge":
            self.send_response(200)
            self.send_header("Content-Length", str(50_000_000))
            self.end_headers()
            try:
                for _ in range(50):
                    self.wfile.write(b"\0" * 1_000_000)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif self.path.startswith("/slowly-redirect-to/"):
            time.sleep(0.6)
            self.send_response(302)
            self.send_header("Location", "/" + self.path.removeprefix("/slowly-redirect-to/"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/missing":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(settings):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ImageServer)
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = ["127.0.0.1/32"]
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_an_allowed_server_is_fetched(server):
    assert fetch_image(f"{server}/cat.png") == PNG


def test_environment_proxies_are_ignored(server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.0.0.1:3128")
    assert fetch_image(f"{server}/cat.png") == PNG


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://100.64.0.1/",  # shared address space
        "http://0.0.0.0/",
        "http://224.0.0.1/",  # multicast
        "http://240.0.0.1/",  # reserved
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
        "http://[::ffff:7f00:1]/",
        "http://[fd00::1]/",  # unique local
        "http://[fe80::1]/",  # link-local
        "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
        "http://2130706433/",  # 127.0.0.1 in decimal
        "http://0177.0.0.1/",  # octal
        "http://0x7f.0.0.1/",  # hex
        "http://0x7f000001/",
        "http://127.1/",
    ],
)
def test_private_and_special_addresses_are_refused_in_any_notation(url):
    with pytest.raises(FetchForbidden):
        fetch_image(url)


def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch):
    monkeypatch.setattr(fetch, "resolve", lambda host, port: ["93.184.215.14", "10.0.0.5"])
    with pytest.raises(FetchForbidden, match="private or reserved"):
        fetch_image("http://images.example.com/a.png")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/a.png", "file:///etc/passwd", "gopher://example.com/", "data:,x", "//x"],
)
def test_other_schemes_are_refused(url):
    with pytest.raises(FetchForbidden, match="Only http and https"):
        fetch_image(url)


def test_credentials_in_urls_and_odd_ports_are_refused(monkeypatch):
    monkeypatch.setattr(fetch, "resolve", lambda host, port: ["93.184.215.14"])
    with pytest.raises(FetchForbidden, match="user name"):
        fetch_image("http://user:pw@example.com/a.png")
    with pytest.raises(FetchForbidden, match="default port"):
        fetch_image("http://example.com:6379/")


def test_redirects_are_checked_again(server):
    # 127.0.0.2 is loopback too, but not in the operator's allowlist.
    target = server.replace("127.0.0.1", "127.0.0.2") + "/cat.png"
    with pytest.raises(FetchForbidden):
        fetch_image(f"{server}/redirect-to/{target}")
    with pytest.raises(FetchForbidden):
        fetch_image(f"{server}/redirect-to/http://169.254.169.254/")
    assert fetch_image(f"{server}/redirect-to/{server}/cat.png") == PNG


def test_too_many_redirects(server):
    url = f"{server}/cat.png"
    for _ in range(4):
        url = f"{server}/redirect-to/{url}"
    with pytest.raises(FetchFailed, match="redirects"):
        fetch_image(url)


def test_oversized_bodies_are_cut_off(server, settings):
    settings.BANANASITE_MAX_UPLOAD_BYTES = 2_000_000
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="larger than"):
        fetch_image(f"{server}/huge")
    assert time.monotonic() - started < 5


def test_slow_bodies_are_cut_off(server, settings):
    settings.BANANASITE_FETCH_TIMEOUT = 1
    with pytest.raises(FetchFailed, match="too long"):
        fetch_image(f"{server}/slow")


def test_error_statuses_and_unknown_hosts_are_clear(server, monkeypatch):
    with pytest.raises(FetchFailed, match="404"):
        fetch_image(f"{server}/missing")

    def nowhere(host, port):
        raise OSError("no such host")

    monkeypatch.setattr(fetch, "resolve", nowhere)
    with pytest.raises(FetchFailed, match="could not be found"):
        fetch_image("http://does-not-exist.example/a.png")


@pytest.mark.django_db
def test_url_inputs_in_a_composition(server, owner, media_files):
    from api.tests.api_clients import token_client
    from api.tests.test_api import assert_problem, upload
    from compositions.models import Composition

    api = token_client(owner)
    first = upload(api)
    ok = api.post(
        "/api/v1/compositions",
        {
            "prompt": "x",
            "inputs": [{"upload": first}, {"url": f"{server}/cat.png", "role": "style"}],
        },
        format="json",
    )
    assert ok.status_code == 202, ok.content
    assert [i["role"] for i in ok.json()["inputs"]] == ["other", "style"]
    before = media_files()
    refused = api.post(
        "/api/v1/compositions",
        {"prompt": "x", "inputs": [{"upload": first}, {"url": "http://169.254.169.254/x.png"}]},
        format="json",
    )
    assert_problem(refused, 400, "image_url_forbidden")
    assert Composition.objects.count() == 1 and media_files() == before
    by_url = api.post("/api/v1/uploads", {"url": f"{server}/cat.png"}, format="json")
    assert by_url.status_code == 201 and by_url.json()["width"] == 451


# --- One deadline for the whole exchange ------------------------------------------------------


class DribblingServer:
    """A raw socket server on 127.0.0.1 that answers a status line, then one header line every
    0.2 s, and never ends its headers (for 15 s): each line arrives well within any read
    timeout, so only a deadline for the whole exchange stops the client."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            threading.Thread(target=self.dribble, args=(conn,), daemon=True).start()

    def dribble(self, conn):
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for n in range(75):
                    if self.stop.wait(0.2):
                        return
                    conn.sendall(f"X-Line-{n}: still going\r\n".encode())
            except OSError:
                return

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def dribbling(settings):
    server = DribblingServer()
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = ["127.0.0.1/32"]
    yield server
    server.close()


def test_headers_sent_one_line_at_a_time_are_cut_off_at_the_deadline(dribbling, settings):
    settings.BANANASITE_FETCH_TIMEOUT = 1
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="too long"):
        fetch_image(f"{dribbling.url}/cat.png")
    assert 0.9 < time.monotonic() - started < 2


def test_a_webhook_post_to_a_dribbling_server_ends_at_the_deadline(dribbling):
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="too long"):
        safe_request("POST", dribbling.url, max_bytes=1024, timeout=1, content=b"{}")
    assert 0.9 < time.monotonic() - started < 2


def test_redirects_share_the_one_deadline(server, settings):
    # Three hops of 0.6 s each: every one is within a 1 s timeout, together they are not.
    settings.BANANASITE_FETCH_TIMEOUT = 1
    url = "cat.png"
    for _ in range(3):
        url = f"slowly-redirect-to/{url}"
    started = time.monotonic()
    with pytest.raises(FetchFailed, match="too long"):
        fetch_image(f"{server}/{url}")
    assert time.monotonic() - started < 1.4
    settings.BANANASITE_FETCH_TIMEOUT = 5
    assert fetch_image(f"{server}/{url}") == PNG


def test_a_slow_name_lookup_ends_at_the_deadline(monkeypatch, settings):
    settings.BANANASITE_FETCH_TIMEOUT = 1
    answered = threading.Event()

    def slow_dns(host, port):
        answered.wait(5)
        return ["93.184.215.14"]

    monkeypatch.setattr(fetch, "resolve", slow_dns)
    started = time.monotonic()
    try:
        with pytest.raises(FetchFailed, match="took too long"):
            fetch_image("http://slow-dns.example/a.png")
        assert time.monotonic() - started < 1.5
    finally:
        answered.set()


# --- Which addresses are public: our own table, not ipaddress's is_private/is_global -----------

REFUSED = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",  # IPv4-mapped: 0.0.0.0 at the start, 255.255.255.255 at the end
    "64:ff9b::/96",  # NAT64: likewise
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",  # 6to4: 0.0.0.0 and 255.255.255.255 embedded at the ends
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
]


EMBEDDING = {"::ffff:0:0/96", "64:ff9b::/96", "2002::/16"}


def _samples(network):
    net = ipaddress.ip_network(network)
    if network in EMBEDDING:  # the middle embeds a public IPv4 address
        return [net[0], net[-1]]
    return sorted({net[0], net[net.num_addresses // 2], net[-1]})


@pytest.mark.parametrize("network", REFUSED)
def test_every_special_purpose_range_is_refused(network):
    for address in _samples(network):
        assert not is_public(str(address)), address


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1",  # mapped, NAT64 and 6to4 forms of private addresses
        "::ffff:10.1.2.3",
        "64:ff9b::a9fe:a9fe",  # 169.254.169.254 through NAT64
        "2002:c0a8:0101::1",  # 192.168.1.1 in 6to4
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "fec0::1",
        "fe80::1%eth0",  # with a zone id
        "4000::1",  # outside global unicast
    ],
)
def test_special_addresses_in_any_form_are_refused(address):
    assert not is_public(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "192.0.1.1",  # just outside 192.0.0.0/24
        "100.128.0.1",  # just outside 100.64.0.0/10
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",  # 2001:4860::/32 is not in 2001::/23
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # 8.8.8.8 through NAT64
        "2002:808:808::1",  # 8.8.8.8 in 6to4
    ],
)
def test_public_addresses_are_allowed(address):
    assert is_public(address)


def test_the_operators_allowlist_still_opens_a_refused_network(settings):
    settings.BANANASITE_FETCH_ALLOW_NETWORKS = ["fec0::/10", "10.20.0.0/16"]
    assert is_public("fec0::5") and is_public("10.20.1.2") and is_public("::ffff:10.20.1.2")
    assert not is_public("10.21.0.1")


def test_the_decision_does_not_ask_ipaddress_for_is_private_or_is_global(monkeypatch):
    """CVE-2024-4032: those properties were wrong in Python 3.12.1 and before."""

    def wrong(self):
        raise AssertionError("is_private/is_global consulted")

    for cls in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        for name in ("is_private", "is_global", "is_reserved", "is_link_local", "is_multicast"):
            monkeypatch.setattr(cls, name, property(wrong))
    assert is_public("8.8.8.8") and not is_public("10.0.0.1")
    assert is_public("2606:4700:4700::1111") and not is_public("fec0::1")
    assert not is_public("::ffff:192.168.0.1")


def test_non_ascii_paths_and_host_names_are_encoded_as_browsers_do(server, monkeypatch):
    seen = []
    monkeypatch.setattr(fetch, "resolve", lambda host, port: seen.append(host) or ["127.0.0.1"])
    port = server.rsplit(":", 1)[1]
    ImageServer.requests = []
    assert fetch_image(f"http://bücher.example:{port}/café photo.png?q=thé") == PNG
    assert seen == ["xn--bcher-kva.example"]
    assert fetch_image(f"{server}/already%20encoded.png") == PNG
    assert ImageServer.requests == [
        ("/caf%C3%A9%20photo.png?q=th%C3%A9", f"xn--bcher-kva.example:{port}"),
        ("/already%20encoded.png", f"127.0.0.1:{port}"),
    ]


def test_a_composition_s_url_inputs_share_one_deadline(dribbling, settings, owner):
    from api.tests.api_clients import token_client
    from compositions.models import Composition

    settings.BANANASITE_FETCH_TIMEOUT = 1
    inputs = [{"url": f"{dribbling.url}/{n}.png"} for n in range(6)]
    started = time.monotonic()
    refused = token_client(owner).post(
        "/api/v1/compositions", {"prompt": "x", "inputs": inputs}, format="json"
    )
    assert refused.status_code == 400 and "too long" in refused.json()["detail"]
    assert time.monotonic() - started < 2.5  # one deadline, not six
    assert not Composition.objects.exists()
