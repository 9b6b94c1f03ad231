"""Fetch a web page a request links to, safely, and turn it into plain text.

A request may name external pages as extra knowledge for one draft. Fetching a URL a
client chose is a server-side request forgery risk, so every hop is checked:

* only http/https, no userinfo;
* the host is resolved here and refused when ANY address is loopback, private, link-local
  (cloud metadata), CGNAT, multicast, reserved, unspecified or otherwise not global, also
  when such an address hides inside IPv4-mapped / 6to4 / NAT64 IPv6 — unless the host name
  or the address is on the policy's allow-list;
* the connection goes to the very address that was checked (see `Target.pinned_url`), so
  a DNS answer that changes between check and connect (rebinding) cannot slip through;
* redirects are followed here, each hop checked again; bodies and time are capped.

Text comes out through the collector's own extractor (newspaper4k + html_to_text).
This module must not import dagster.
"""

from __future__ import annotations

import codecs
import functools
import ipaddress
import logging
import os
import re
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from twin_assets.collect.http import DEFAULT_USER_AGENT, CrawlFailure

log = logging.getLogger(__name__)

Resolver = Callable[[str], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Media type -> how the body is read: "html" goes through the extractor, "text" is kept as is.
TEXT_TYPES = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "text/markdown": "text",
}
DEFAULT_PORTS = {"http": 80, "https": 443}
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class LinkError(CrawlFailure):
    """A link that could not be used: like a source the collector could not collect, with a short
    stable `kind`. The message never holds userinfo or a query string; `url` is the URL given to
    `fetch` with any userinfo removed."""


@dataclass(frozen=True)
class LinkPolicy:
    # Host names (exact) or IPs / CIDR networks that may be fetched although not public.
    allow: tuple[str, ...] = ()
    max_bytes: int = 2_000_000
    timeout_s: float = 10.0
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    cache_size: int = 256
    cache_ttl_s: float = 3600.0

    def __post_init__(self) -> None:
        entries = (self.allow,) if isinstance(self.allow, str) else self.allow
        object.__setattr__(self, "allow", tuple(e.strip().lower() for e in entries if e and e.strip()))
        if self.max_bytes <= 0 or self.timeout_s <= 0 or self.max_redirects < 0:
            raise ValueError("max_bytes and timeout_s must be positive, max_redirects not negative")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LinkPolicy:
        """TWIN_LINK_ALLOW (comma-separated), TWIN_LINK_MAX_BYTES, TWIN_LINK_TIMEOUT_S."""
        env = os.environ if environ is None else environ
        allow = tuple(p.strip() for p in env.get("TWIN_LINK_ALLOW", "").split(",") if p.strip())
        kwargs: dict[str, object] = {"allow": allow}
        for name, field_name, kind in (
            ("TWIN_LINK_MAX_BYTES", "max_bytes", int),
            ("TWIN_LINK_TIMEOUT_S", "timeout_s", float),
        ):
            raw = env.get(name, "").strip()
            if raw:
                try:
                    kwargs[field_name] = kind(raw)
                except ValueError:
                    raise ValueError(f"{name} must be a number, got {raw!r}") from None
        return cls(**kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LinkDocument:
    url: str  # final URL after redirects
    title: str | None
    text: str  # extracted plain text, paragraphs separated by blank lines


# ---------------------------------------------------------------- pure checks


@dataclass(frozen=True)
class Target:
    """A checked http(s) URL, split into what the fetch needs."""

    scheme: str
    host: str  # lower-case ASCII (IDNA), IPv6 without brackets
    port: int
    path: str  # path and ?query; never empty

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The normalised URL (no fragment, no default port): the cache key and the reported URL."""
        return f"{self.scheme}://{self.host_header}{self.path}"

    def pinned_url(self, address: str) -> str:
        """The same URL with the host replaced by an already-checked address.

        The request goes to this URL, so no second DNS lookup happens (httpcore only
        resolves names; an IP literal is connected to as is). The caller sends the
        original Host header and, for https, `sni_hostname` so TLS uses and verifies the
        original name."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def redact(url: str) -> str:
    """A URL safe to log or show: no userinfo, query or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else netloc + parts.path


def _strip_userinfo(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def check_url(url: str) -> Target:
    """Parse a URL and refuse anything but a plain http(s) URL with a host."""
    shown = redact(url) if isinstance(url, str) else repr(url)
    if not isinstance(url, str) or not url.strip():
        raise LinkError("bad_url", "empty URL", "")
    raw = url.strip()
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in raw):
        raise LinkError("bad_url", f"URL holds whitespace or control characters: {shown}", shown)
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise LinkError("bad_url", f"malformed URL {shown}: {exc}", shown) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        what = scheme or "a URL without a scheme"
        raise LinkError("scheme", f"only http and https links are fetched, not {what}", shown)
    if "@" in parts.netloc:
        raise LinkError("userinfo", f"links with a user name or password are refused: {shown}", shown)
    if "\\" in parts.netloc or not parts.hostname:
        raise LinkError("bad_url", f"no usable host in {shown}", shown)
    if port == 0:
        raise LinkError("bad_url", f"port 0 in {shown}", shown)
    try:
        host = parts.hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise LinkError("bad_url", f"host is not a valid international domain name: {shown}", shown) from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme], path=path)


@functools.lru_cache(maxsize=64)
def _split_allow(allow: tuple[str, ...]) -> tuple[frozenset[str], tuple[ipaddress._BaseNetwork, ...]]:
    names: set[str] = set()
    networks = []
    for entry in allow:
        entry = entry.strip().lower()
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.rstrip("."))
    return frozenset(names), tuple(networks)


def host_allowed(host: str, allow: Iterable[str]) -> bool:
    """Whether `host` is named, exactly, as a host name on the allow-list."""
    names, _ = _split_allow(tuple(allow))
    return host.strip("[]").rstrip(".").lower() in names


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address it carries (6to4, NAT64). An IPv4-mapped address
    (::ffff:a.b.c.d) is judged by its IPv4 address alone: the socket goes there."""
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    found: list[IPAddress] = [ip]
    if ip.version == 6:
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip in NAT64:
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _reason(ip: IPAddress) -> str | None:
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local (cloud metadata lives here)"),
        (ip.version == 4 and ip in CGNAT, "carrier-grade NAT (100.64.0.0/10)"),
        (ip.is_private, "private"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    )
    return next((reason for hit, reason in checks if hit), None)


def blocked_reason(address: str, allow: Iterable[str] = ()) -> str | None:
    """Why a resolved address must not be fetched, or None when it may be.

    An address (or the IPv4 address embedded in it) inside an allow-listed IP/CIDR is fine."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    candidates = _embedded(ip)
    _, networks = _split_allow(tuple(allow))
    if any(c in n for c in candidates for n in networks if c.version == n.version):
        return None
    for candidate in candidates:
        reason = _reason(candidate)
        if reason:
            return reason if candidate == ip else f"{reason} ({candidate} inside {ip})"
    return None


def default_resolver(host: str) -> list[str]:
    """Every address getaddrinfo gives for `host` (odd numeric forms like 0x7f.1 included)."""
    addresses: list[str] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP):
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- body handling


def _media_type(content_type: str) -> tuple[str, str | None]:
    media, *params = content_type.split(";")
    charset = None
    for param in params:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    return media.strip().lower(), charset


def _usable_charset(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_body(body: bytes, charset: str | None, html: bool) -> str:
    """Body bytes to text: the header's charset, else an HTML <meta charset>, else UTF-8."""
    encoding = _usable_charset(charset)
    if encoding is None and html:
        found = _META_CHARSET.search(body[:4096])
        encoding = _usable_charset(found.group(1).decode("ascii", "ignore") if found else None)
    return body.decode(encoding or "utf-8", errors="replace")


def _looks_like_html(body: bytes) -> bool:
    head = body[:4096].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def extract_text(markup_or_text: str, mode: str, url: str) -> tuple[str | None, str]:
    """(title, text). HTML goes through the collector's extractor (newspaper4k with image
    fetching and meta-refresh off, so it makes no requests of its own); when it finds no
    article body, html_to_text of the whole page is used. Plain text is kept as it is."""
    if mode == "text":
        return None, markup_or_text.replace("\r\n", "\n").replace("\r", "\n").strip()
    from twin_assets.collect.articles import extract_article
    from twin_assets.collect.html_text import drop_title_heading, html_to_text

    markup = _XML_DECLARATION.sub("", markup_or_text, count=1)  # lxml refuses str with one
    title, text = None, ""
    try:
        extracted = extract_article(markup, url)
        title, text = extracted.title, extracted.text
    except Exception:  # newspaper raises many types on broken markup; fall back below
        log.debug("newspaper could not parse %s", redact(url), exc_info=True)
    if not text.strip():
        try:
            text = drop_title_heading(html_to_text(markup), title)
        except Exception:  # lxml on hopeless markup
            text = ""
    return title, text.strip()


# ---------------------------------------------------------------- cache


class TTLCache:
    """A thread-safe LRU with a time-to-live per entry."""

    def __init__(self, size: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, LinkDocument]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> LinkDocument | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] <= self._clock():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: str, value: LinkDocument) -> None:
        if self.size <= 0 or self.ttl_s <= 0:
            return
        with self._lock:
            self._items[key] = (self._clock() + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


# ---------------------------------------------------------------- fetcher


class LinkFetcher:
    """Fetches links under a `LinkPolicy`; safe to share between threads."""

    def __init__(
        self,
        policy: LinkPolicy | None = None,
        resolver: Resolver | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy or LinkPolicy()
        self._resolver = resolver or default_resolver
        # A bare transport, not a Client: no proxies from the environment (a proxy would
        # connect on our behalf, unchecked), no cookie jar shared between sites, no
        # automatic redirects. No keep-alive: a pooled connection is keyed by IP and port
        # only, so reusing one for another host name on the same IP would skip that
        # name's TLS check.
        self._transport = httpx.HTTPTransport(
            verify=ssl_context if ssl_context is not None else True,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=0),
            retries=0,
        )
        self._cache = TTLCache(self.policy.cache_size, self.policy.cache_ttl_s)
        # DNS runs here so a hanging lookup still counts against timeout_s.
        self._dns = ThreadPoolExecutor(max_workers=4, thread_name_prefix="link-dns")

    def __enter__(self) -> LinkFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()
        self._dns.shutdown(wait=False, cancel_futures=True)
        self._cache.clear()

    def fetch(self, url: str) -> LinkDocument:
        """The page behind `url` as text; raises LinkError. Successes are cached by URL."""
        try:
            target = check_url(url)
            cached = self._cache.get(target.url)
            if cached is not None:
                return cached
            document = self._fetch(target)
        except LinkError as error:
            error.url = _strip_userinfo(url) if isinstance(url, str) else ""
            raise
        self._cache.put(target.url, document)
        return document

    # -- one fetch, hop by hop

    def _fetch(self, target: Target) -> LinkDocument:
        deadline = time.monotonic() + self.policy.timeout_s
        for _ in range(self.policy.max_redirects + 1):
            response = self._open(target, deadline)
            try:
                if response.status_code not in REDIRECT_STATUSES:
                    return self._document(target, response, deadline)
                location = response.headers.get("location")
                if not location:
                    status = response.status_code
                    raise LinkError(f"http_{status}", f"redirect without a Location from {redact(target.url)}")
                target = check_url(urljoin(target.url, location.strip()))
            finally:
                response.close()
        raise LinkError("too_many_redirects", f"more than {self.policy.max_redirects} redirects")

    def _remaining(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LinkError("timeout", f"no answer within {self.policy.timeout_s:g} s")
        return left

    def _addresses(self, target: Target, deadline: float) -> list[str]:
        """The host's addresses, each one checked; refused when any one is blocked."""
        if _is_ip_literal(target.host):
            addresses = [target.host]
        else:
            future = self._dns.submit(self._resolver, target.host)
            try:
                addresses = list(future.result(timeout=self._remaining(deadline)))
            except FutureTimeout:
                took = f"took over {self.policy.timeout_s:g} s"
                raise LinkError("timeout", f"DNS lookup of {target.host} {took}") from None
            except (OSError, UnicodeError, ValueError) as exc:
                raise LinkError("dns", f"could not resolve {target.host}: {exc}") from None
        if not addresses:
            raise LinkError("dns", f"{target.host} has no address")
        if not all(isinstance(a, str) and _is_ip_literal(a.split("%", 1)[0]) for a in addresses):
            raise LinkError("dns", f"the resolver gave something other than IP addresses for {target.host}")
        if host_allowed(target.host, self.policy.allow):
            return addresses
        for address in addresses:
            reason = blocked_reason(address, self.policy.allow)
            if reason:
                raise LinkError("blocked_address", f"{target.host} resolves to {address}, which is {reason}")
        return addresses

    def _open(self, target: Target, deadline: float) -> httpx.Response:
        """Send the GET to a checked address (the first that accepts a connection)."""
        last: Exception | None = None
        for address in self._addresses(target, deadline):
            left = self._remaining(deadline)
            request = httpx.Request(
                "GET",
                target.pinned_url(address),
                headers={
                    "Host": target.host_header,  # the name, not the pinned IP
                    "User-Agent": self.policy.user_agent,
                    "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,text/markdown;q=0.9,*/*;q=0.1",
                    "Accept-Encoding": "gzip, deflate",
                },
                extensions={
                    "timeout": {"connect": left, "read": left, "write": left, "pool": left},
                    # httpcore uses this as ssl server_hostname: SNI and certificate check
                    # are for the name although the socket goes to the pinned IP.
                    "sni_hostname": target.host,
                },
            )
            log.debug("fetching %s via %s", redact(target.url), address)
            try:
                return self._transport.handle_request(request)
            except httpx.TimeoutException:
                raise LinkError("timeout", f"no answer from {target.host} within {self.policy.timeout_s:g} s") from None
            except httpx.ConnectError as exc:
                if _is_tls_error(exc):
                    raise LinkError("tls", f"TLS with {target.host} failed: {exc}") from None
                last = exc
            except httpx.TransportError as exc:
                raise LinkError("network", f"{target.host}: {exc}") from None
        raise LinkError("connect", f"could not connect to {target.host}: {last}")

    def _document(self, target: Target, response: httpx.Response, deadline: float) -> LinkDocument:
        status = response.status_code
        if status >= 300:
            raise LinkError(f"http_{status}", f"{redact(target.url)} answered HTTP {status}")
        media, charset = _media_type(response.headers.get("content-type", ""))
        mode = TEXT_TYPES.get(media)
        if media and mode is None:
            raise LinkError("not_text", f"{redact(target.url)} is {media}, not an HTML or text page")
        length = response.headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > self.policy.max_bytes:
            raise LinkError("too_large", f"{redact(target.url)} is {length} bytes, over {self.policy.max_bytes}")
        body = self._read(target, response, deadline)
        if mode is None:  # no Content-Type at all: accept what is plainly HTML
            if not _looks_like_html(body):
                raise LinkError("not_text", f"{redact(target.url)} has no content type and is not HTML")
            mode = "html"
        title, text = extract_text(decode_body(body, charset, mode == "html"), mode, target.url)
        if not text:
            raise LinkError("empty", f"no readable text at {redact(target.url)}")
        return LinkDocument(url=target.url, title=title, text=text)

    def _read(self, target: Target, response: httpx.Response, deadline: float) -> bytes:
        """The (decompressed) body, stopped past max_bytes or past the deadline.

        Each read is bounded by the time left when the request was sent, and the deadline
        is checked after every chunk, so a trickling server is cut off too."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.policy.max_bytes:
                    raise LinkError("too_large", f"{redact(target.url)} is over {self.policy.max_bytes} bytes")
                chunks.append(chunk)
                self._remaining(deadline)
        except httpx.TimeoutException:
            raise LinkError("timeout", f"{target.host} sent too slowly") from None
        except httpx.DecodingError as exc:
            raise LinkError("network", f"{target.host} sent a body that does not decode: {exc}") from None
        except httpx.TransportError as exc:
            raise LinkError("network", f"{target.host}: {exc}") from None
        return b"".join(chunks)


def _is_tls_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
