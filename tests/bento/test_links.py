"""bento/links.py: SSRF-safe link fetching over real HTTP on 127.0.0.1 (no mocks of httpx)."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bento.links import (
    LinkDocument,
    LinkError,
    LinkFetcher,
    LinkPolicy,
    TTLCache,
    blocked_reason,
    check_url,
    host_allowed,
)
from tests.conftest import REPO_ROOT, FixtureSite, Route

ARTICLE = """<!doctype html><html><head><title>Why caches lie</title>
<meta http-equiv="refresh" content="0;url=/refresh-target"></head>
<body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Why caches lie</h1>
<p>Caches are the most common source of stale reads in a distributed system, and the reason is rarely the cache itself.</p>
<p>Invalidation travels over a different path than the write, so for a moment the two disagree. That window is where bugs live.</p>
<img src="/image.png"><img src="{base}/other-image.png">
<p>The fix is to version the value, not to shorten the TTL.</p></article>
<footer>Copyright 2024</footer></body></html>"""


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    """conftest's site, closed in the background: shutdown() waits out a 0.5 s poll."""
    server = FixtureSite()
    yield server
    threading.Thread(target=server.close, daemon=True).start()


def fetcher(*allow: str, resolver=None, **policy) -> LinkFetcher:
    return LinkFetcher(LinkPolicy(allow=allow, timeout_s=policy.pop("timeout_s", 2.0), **policy), resolver=resolver)


def mapping_resolver(table: dict[str, list[str]]) -> Callable[[str], list[str]]:
    def resolve(host: str) -> list[str]:
        if host not in table:
            raise socket.gaierror(f"unknown host {host}")
        return table[host]

    return resolve


def fail_kind(fetch: LinkFetcher, url: str) -> LinkError:
    with pytest.raises(LinkError) as caught:
        fetch.fetch(url)
    return caught.value


# ---------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "100.127.255.254", "127.0.0.1", "127.5.5.5", "0.0.0.0", "224.0.0.1", "255.255.255.255",
        "240.0.0.1", "192.0.2.1", "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1",
        "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
        "2002:7f00:1::", "64:ff9b::a9fe:a9fe",
    ],
)
def test_blocked_ranges(address: str) -> None:
    assert blocked_reason(address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(address) is None


def test_blocked_reason_names_the_range() -> None:
    assert "loopback" in blocked_reason("127.0.0.1")
    assert "link-local" in blocked_reason("169.254.169.254")
    assert "carrier-grade" in blocked_reason("100.64.1.1")
    assert "private" in blocked_reason("192.168.0.1")
    assert "loopback" in blocked_reason("::ffff:127.0.0.1")
    assert blocked_reason("not-an-ip") == "not an IP address"


def test_allow_list_by_ip_and_network() -> None:
    assert blocked_reason("127.0.0.1", ("127.0.0.1",)) is None
    assert blocked_reason("::ffff:127.0.0.1", ("127.0.0.1",)) is None
    assert blocked_reason("10.9.8.7", ("10.0.0.0/8",)) is None
    assert blocked_reason("fd00::5", ("fd00::/8",)) is None
    assert blocked_reason("11.0.0.1", ("10.0.0.0/8",)) is None  # public anyway
    assert blocked_reason("192.168.1.1", ("10.0.0.0/8", "intranet.example")) is not None
    assert blocked_reason("127.0.0.2", ("127.0.0.1",)) is not None
    assert host_allowed("Intranet.Example.", ("intranet.example",))
    assert not host_allowed("evil-intranet.example", ("intranet.example",))
    assert not host_allowed("127.0.0.1", ("127.0.0.0/8",))  # networks match addresses, not names


def test_check_url_normalises() -> None:
    target = check_url("HTTP://Example.COM:80/a/b?x=1&y=2#frag")
    assert (target.scheme, target.host, target.port, target.path) == ("http", "example.com", 80, "/a/b?x=1&y=2")
    assert target.url == "http://example.com/a/b?x=1&y=2"
    assert target.host_header == "example.com"
    assert check_url("https://example.com:8443").url == "https://example.com:8443/"
    assert check_url("http://bücher.example/").host == "xn--bcher-kva.example"


def test_pinned_url_keeps_port_and_path() -> None:
    target = check_url("https://example.com/p?q=1")
    assert target.pinned_url("93.184.216.34") == "https://93.184.216.34:443/p?q=1"
    v6 = check_url("http://[2001:db8::1]:8080/x")
    assert v6.host == "2001:db8::1" and v6.host_header == "[2001:db8::1]:8080"
    assert v6.pinned_url("2001:db8::1") == "http://[2001:db8::1]:8080/x"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("file:///etc/passwd", "scheme"),
        ("ftp://example.com/file", "scheme"),
        ("gopher://example.com:70/_x", "scheme"),
        ("data:text/html,<p>hi</p>", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("example.com/page", "scheme"),
        ("//example.com/page", "scheme"),
        ("http://user@example.com/", "userinfo"),
        ("http://example.com\\@127.0.0.1/", "userinfo"),
        ("http:///nohost", "bad_url"),
        ("http://example.com:99999/", "bad_url"),
        ("http://exa mple.com/", "bad_url"),
        ("", "bad_url"),
    ],
)
def test_bad_urls_refused(url: str, kind: str) -> None:
    with pytest.raises(LinkError) as caught:
        check_url(url)
    assert caught.value.kind == kind


def test_password_never_in_error() -> None:
    with LinkFetcher() as links:
        error = fail_kind(links, "http://jane:hunter2@example.com/?token=s3cret")
    assert error.kind == "userinfo"
    assert "hunter2" not in str(error) and "s3cret" not in str(error) and "hunter2" not in error.url


def test_module_imports_neither_dagster_nor_newspaper() -> None:
    code = "import sys, bento.links; print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'newspaper')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_policy_from_env() -> None:
    policy = LinkPolicy.from_env(
        {"TWIN_LINK_ALLOW": " 127.0.0.1, 10.0.0.0/8 ,Intranet.Example,", "TWIN_LINK_MAX_BYTES": "1000", "TWIN_LINK_TIMEOUT_S": "2.5"}
    )
    assert policy.allow == ("127.0.0.1", "10.0.0.0/8", "intranet.example")
    assert (policy.max_bytes, policy.timeout_s) == (1000, 2.5)
    assert LinkPolicy.from_env({}) == LinkPolicy()
    with pytest.raises(ValueError, match="TWIN_LINK_MAX_BYTES"):
        LinkPolicy.from_env({"TWIN_LINK_MAX_BYTES": "lots"})


def test_ttl_cache_expires_and_evicts() -> None:
    now = [0.0]
    cache = TTLCache(size=2, ttl_s=10, clock=lambda: now[0])
    docs = {k: LinkDocument(url=k, title=None, text=k) for k in "abc"}
    cache.put("a", docs["a"])
    cache.put("b", docs["b"])
    assert cache.get("a") is docs["a"]  # a is now the most recent
    cache.put("c", docs["c"])
    assert cache.get("b") is None and cache.get("a") is docs["a"] and len(cache) == 2
    now[0] = 10.0
    assert cache.get("a") is None and cache.get("c") is None


# ---------------------------------------------------------------- real HTTP


def test_page_is_fetched_and_extracted(site: FixtureSite) -> None:
    site.routes["/post"] = Route(body=ARTICLE.replace("{base}", site.base))
    with fetcher("127.0.0.1") as links:
        document = links.fetch(site.url("/post#section"))
    assert document.url == site.url("/post")
    assert document.title == "Why caches lie"
    assert document.text.split("\n\n") == [
        "Caches are the most common source of stale reads in a distributed system, and the reason is rarely the cache itself.",
        "Invalidation travels over a different path than the write, so for a moment the two disagree. That window is where bugs live.",
        "The fix is to version the value, not to shorten the TTL.",
    ]
    # The extractor makes no requests of its own (no images, no meta refresh).
    assert [r.path for r in site.requests] == ["/post"]
    assert site.requests[0].headers["user-agent"] == LinkPolicy().user_agent


def test_plain_text_and_markdown_kept_as_is(site: FixtureSite) -> None:
    site.routes["/notes.txt"] = Route(body="First line.\r\n\r\nSecond para.\n", content_type="text/plain; charset=utf-8")
    site.routes["/notes.md"] = Route(body="# Title\n\n- a\n- b\n", content_type="text/markdown")
    with fetcher("127.0.0.1") as links:
        assert links.fetch(site.url("/notes.txt")).text == "First line.\n\nSecond para."
        document = links.fetch(site.url("/notes.md"))
    assert (document.title, document.text) == (None, "# Title\n\n- a\n- b")


def test_short_page_falls_back_to_whole_page_text(site: FixtureSite) -> None:
    site.routes["/short"] = Route(body="<html><head><title>T</title></head><body><p>Hello there.</p></body></html>")
    site.routes["/latin1"] = Route(body="<p>Caf\xe9 cr\xe8me.</p>".encode("latin-1"), content_type="text/html; charset=iso-8859-1")
    with fetcher("127.0.0.1") as links:
        assert links.fetch(site.url("/short")).text == "Hello there."
        assert links.fetch(site.url("/latin1")).text == "Café crème."


def test_second_fetch_is_a_cache_hit(site: FixtureSite) -> None:
    site.routes["/post"] = Route(body=ARTICLE)
    with fetcher("127.0.0.1") as links:
        first = links.fetch(site.url("/post"))
        assert links.fetch(site.url("/post")) == first
        assert links.fetch(site.url("/post#other")) == first
    assert len(site.hits("/post")) == 1


def test_cache_ttl_zero_and_failures_not_cached(site: FixtureSite) -> None:
    site.routes["/flaky"] = [Route(status=503, body="busy"), Route(body="<p>Back up now.</p>")]
    site.routes["/page"] = Route(body="<p>Some words.</p>")
    with fetcher("127.0.0.1", cache_ttl_s=0) as links:
        assert fail_kind(links, site.url("/flaky")).kind == "http_503"
        assert links.fetch(site.url("/flaky")).text == "Back up now."
        links.fetch(site.url("/page"))
        links.fetch(site.url("/page"))
    assert len(site.hits("/flaky")) == 2 and len(site.hits("/page")) == 2


def test_concurrent_fetches(site: FixtureSite) -> None:
    for n in range(8):
        site.routes[f"/p{n}"] = Route(body=f"<p>Page number {n}.</p>")
    results: dict[int, str] = {}
    with fetcher("127.0.0.1") as links:
        threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, links.fetch(site.url(f"/p{n}")).text)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
    assert results == {n: f"Page number {n}." for n in range(8)}


def test_loopback_refused_without_allow_list(site: FixtureSite) -> None:
    site.routes["/post"] = Route(body=ARTICLE)
    with LinkFetcher(LinkPolicy(timeout_s=2)) as links:
        error = fail_kind(links, site.url("/post"))
        assert error.kind == "blocked_address" and "loopback" in str(error)
        assert error.url == site.url("/post")
        assert fail_kind(links, site.url("/post").replace("127.0.0.1", "localhost")).kind == "blocked_address"
    assert site.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://017700000001/", "http://[::1]/",
        "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/", "http://10.0.0.1/", "http://LOCALHOST/",
    ],
)
def test_odd_numeric_hosts_resolve_to_blocked(url: str) -> None:
    with LinkFetcher(LinkPolicy(timeout_s=2)) as links:  # the real getaddrinfo resolver
        assert fail_kind(links, url).kind == "blocked_address"


def test_name_resolving_to_loopback_refused(site: FixtureSite) -> None:
    site.routes["/"] = Route(body="<p>secret</p>")
    port = site.server.server_address[1]
    resolver = mapping_resolver({"evil.example": ["127.0.0.1"], "mixed.example": ["93.184.216.34", "10.0.0.1"]})
    with fetcher(resolver=resolver) as links:
        assert fail_kind(links, f"http://evil.example:{port}/").kind == "blocked_address"
        # Refused when ANY answer is private, even if another is public.
        assert fail_kind(links, "http://mixed.example/").kind == "blocked_address"
        assert fail_kind(links, "http://unknown.example/").kind == "dns"
    assert site.requests == []


def test_allowed_hostname_is_connected_by_pinned_ip_with_its_host_header(site: FixtureSite) -> None:
    site.routes["/"] = Route(body="<p>Intranet page.</p>")
    port = site.server.server_address[1]
    with fetcher("intranet.example", resolver=mapping_resolver({"intranet.example": ["127.0.0.1"]})) as links:
        document = links.fetch(f"http://Intranet.Example:{port}/")
    assert document.url == f"http://intranet.example:{port}/"
    assert site.requests[0].headers["host"] == f"intranet.example:{port}"


def test_dns_rebinding_cannot_switch_address(site: FixtureSite) -> None:
    """The connection goes to the address that was checked; nobody resolves the name again."""
    site.routes["/"] = Route(body="<p>Checked address.</p>")
    port = site.server.server_address[1]
    answers = [["127.0.0.1"], ["169.254.169.254"]]
    calls: list[str] = []

    def rebinding(host: str) -> list[str]:
        calls.append(host)
        return answers[min(len(calls) - 1, 1)]

    with fetcher("127.0.0.1", resolver=rebinding) as links:
        assert links.fetch(f"http://rebind.example:{port}/").text == "Checked address."
    assert calls == ["rebind.example"]
    assert site.requests[0].headers["host"] == f"rebind.example:{port}"


def test_redirects_followed_and_each_hop_checked(site: FixtureSite) -> None:
    site.routes["/a"] = Route(status=301, headers={"Location": "/b?x=1"})
    site.routes["/b?x=1"] = Route(status=302, headers={"Location": "http://good.example:%d/c" % site.server.server_address[1]})
    site.routes["/c"] = Route(body="<p>Arrived.</p>")
    calls: list[str] = []

    def resolve(host: str) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    with fetcher("good.example", resolver=resolve) as links:
        document = links.fetch("http://good.example:%d/a" % site.server.server_address[1])
    assert document.url.endswith("/c") and document.text == "Arrived."
    assert calls == ["good.example"] * 3
    assert [r.path for r in site.requests] == ["/a", "/b?x=1", "/c"]


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("http://localhost:{port}/secret", "blocked_address"),
        ("http://169.254.169.254/latest/meta-data/", "blocked_address"),
        ("http://127.0.0.1:{port}/secret", "blocked_address"),
        ("file:///etc/passwd", "scheme"),
        ("http://admin:pw@good.example:{port}/secret", "userinfo"),
    ],
)
def test_redirect_to_blocked_target_refused(site: FixtureSite, location: str, kind: str) -> None:
    port = site.server.server_address[1]
    site.routes["/start"] = Route(status=302, headers={"Location": location.format(port=port)})
    site.routes["/secret"] = Route(body="<p>secret</p>")
    resolver = mapping_resolver({"good.example": ["127.0.0.1"], "localhost": ["127.0.0.1"]})
    with fetcher("good.example", resolver=resolver) as links:
        assert fail_kind(links, f"http://good.example:{port}/start").kind == kind
    assert site.hits("/secret") == [] and len(site.hits("/start")) == 1


def test_too_many_redirects(site: FixtureSite) -> None:
    site.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    with fetcher("127.0.0.1", max_redirects=3) as links:
        assert fail_kind(links, site.url("/loop")).kind == "too_many_redirects"
    assert len(site.hits("/loop")) == 4  # the first request and 3 redirects


def test_http_errors(site: FixtureSite) -> None:
    site.routes["/gone"] = Route(status=410, body="gone")
    site.routes["/nowhere"] = Route(status=302)  # redirect without Location
    with fetcher("127.0.0.1") as links:
        assert fail_kind(links, site.url("/missing")).kind == "http_404"
        assert fail_kind(links, site.url("/gone")).kind == "http_410"
        assert fail_kind(links, site.url("/nowhere")).kind == "http_302"


def test_non_text_and_empty(site: FixtureSite) -> None:
    site.routes["/doc.pdf"] = Route(body=b"%PDF-1.4 ...", content_type="application/pdf")
    site.routes["/data.json"] = Route(body=b"{}", content_type="application/json")
    site.routes["/untyped-html"] = Route(body="<html><body><p>No type given.</p></body></html>", content_type="")
    site.routes["/untyped-bin"] = Route(body=b"\x00\x01\x02", content_type="")
    site.routes["/blank"] = Route(body="<html><body><script>var x = 1;</script></body></html>")
    with fetcher("127.0.0.1") as links:
        assert fail_kind(links, site.url("/doc.pdf")).kind == "not_text"
        assert fail_kind(links, site.url("/data.json")).kind == "not_text"
        assert fail_kind(links, site.url("/untyped-bin")).kind == "not_text"
        assert links.fetch(site.url("/untyped-html")).text == "No type given."
        assert fail_kind(links, site.url("/blank")).kind == "empty"


def test_body_over_max_bytes_with_content_length(site: FixtureSite) -> None:
    site.routes["/big"] = Route(body="<p>" + "x" * 5000 + "</p>")
    with fetcher("127.0.0.1", max_bytes=1000) as links:
        error = fail_kind(links, site.url("/big"))
    assert error.kind == "too_large" and "5007 bytes" in str(error)


class RawServer:
    """A server on 127.0.0.1 whose GET handler is a function of the raw socket file."""

    def __init__(self, write: Callable[[http.server.BaseHTTPRequestHandler], None]) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                try:
                    write(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable], RawServer]]:
    servers: list[RawServer] = []

    def start(write: Callable) -> RawServer:
        servers.append(RawServer(write))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_body_over_max_bytes_without_content_length(raw_server) -> None:
    sent = [0]
    hung_up = threading.Event()

    def endless(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.end_headers()  # no Content-Length: the body ends when the connection closes
        try:
            for _ in range(10_000):  # 80 MB unless the reader hangs up
                handler.wfile.write(b"<p>" + b"y" * 8192 + b"</p>")
                sent[0] += 1
        except (BrokenPipeError, ConnectionResetError):
            hung_up.set()

    server = raw_server(endless)
    with fetcher("127.0.0.1", max_bytes=50_000) as links:
        assert fail_kind(links, server.url).kind == "too_large"
    assert hung_up.wait(2) and sent[0] < 10_000  # the reader stopped instead of draining the stream


def test_slow_server_times_out(site: FixtureSite) -> None:
    site.routes["/slow"] = Route(body="<p>late</p>", delay_s=1.5)
    with fetcher("127.0.0.1", timeout_s=0.3) as links:
        started = time.monotonic()
        assert fail_kind(links, site.url("/slow")).kind == "timeout"
    assert time.monotonic() - started < 1.0


def test_trickling_body_times_out_on_the_whole_fetch(raw_server) -> None:
    def trickle(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()
        for _ in range(40):
            handler.wfile.write(b"a")
            handler.wfile.flush()
            time.sleep(0.05)

    server = raw_server(trickle)
    with fetcher("127.0.0.1", timeout_s=0.4) as links:
        started = time.monotonic()
        assert fail_kind(links, server.url).kind == "timeout"
    assert time.monotonic() - started < 1.0


def test_slow_dns_times_out() -> None:
    def slow(host: str) -> list[str]:
        time.sleep(0.8)
        return ["93.184.216.34"]

    with fetcher(resolver=slow, timeout_s=0.2) as links:
        started = time.monotonic()
        assert fail_kind(links, "http://slow.example/").kind == "timeout"
    assert time.monotonic() - started < 0.6


def test_ipv6_loopback_when_allowed() -> None:
    class V6Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6
        daemon_threads = True

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = f"<p>Host was {self.headers['Host']}.</p>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    try:
        server = V6Server(("::1", 0), Handler)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    port = server.server_address[1]
    try:
        with fetcher("::1") as links:
            assert links.fetch(f"http://[::1]:{port}/").text == f"Host was [::1]:{port}."
        with fetcher() as links:
            assert fail_kind(links, f"http://[::1]:{port}/").kind == "blocked_address"
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- https: SNI and certificate name


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    """A throwaway CA and a certificate for secure.example only (no IP address in it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject: str, key, issuer: str, issuer_key, ca: bool, san: str | None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("Test CA", ca_key, "Test CA", ca_key, True, None)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert("secure.example", leaf_key, "Test CA", ca_key, False, "secure.example")
    folder = tmp_path_factory.mktemp("tls")
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(folder / "leaf.pem"), str(folder / "key.pem"), ca.public_bytes(serialization.Encoding.PEM).decode()


def test_https_pinned_ip_uses_original_name_for_sni_and_certificate(site: FixtureSite, tls_material) -> None:
    cert_file, key_file, ca_pem = tls_material
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)
    site.server.socket = server_context.wrap_socket(site.server.socket, server_side=True)
    site.routes["/"] = Route(body="<p>Over TLS.</p>")
    port = site.server.server_address[1]
    client_context = ssl.create_default_context(cadata=ca_pem)
    resolver = mapping_resolver({"secure.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    policy = LinkPolicy(allow=("127.0.0.1",), timeout_s=2)
    with LinkFetcher(policy, resolver=resolver, ssl_context=client_context) as links:
        document = links.fetch(f"https://secure.example:{port}/")
        assert (document.url, document.text) == (f"https://secure.example:{port}/", "Over TLS.")
        # The certificate names secure.example only: another name on the same IP fails
        # verification, which shows the check is made against the name, not the IP.
        assert fail_kind(links, f"https://other.example:{port}/").kind == "tls"
    assert names[:2] == ["secure.example", "other.example"]
    assert site.requests[0].headers["host"] == f"secure.example:{port}"
    assert ipaddress.ip_address(site.server.server_address[0]).is_loopback
