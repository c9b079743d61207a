"""Image URLs are fetched safely: public addresses only, in any notation, redirects checked."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import bananasite.fetch as fetch
from bananasite.fetch import FetchFailed, FetchForbidden, fetch_image
from conftest import sample_bytes

PNG = sample_bytes("chelsea.png")


class ImageServer(BaseHTTPRequestHandler):
    def do_GET(self):
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
