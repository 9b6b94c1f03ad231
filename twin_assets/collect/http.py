"""A polite HTTP client for crawling: timeouts, retries with backoff, robots.txt, size caps.

Also reads file:// URLs the same way, so a site saved to disk (the demo corpus) is
collected by exactly the code that collects a live one.
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import httpx

from twin_assets.collect.pages import looks_like_bot_challenge

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
DEFAULT_USER_AGENT = "llm-twin-collector/0.1 (collects one author's own writing for their LLM twin)"


class CrawlFailure(Exception):
    """A source that could not be collected. `kind` is a short stable code stored in crawl_errors."""

    def __init__(self, kind: str, message: str, url: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.url = url


@dataclass(frozen=True)
class FetchPolicy:
    user_agent: str = DEFAULT_USER_AGENT
    timeout_s: float = 20.0
    max_bytes: int = 5_000_000
    retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    respect_robots: bool = True
    concurrency: int = 4


@dataclass(frozen=True)
class Page:
    url: str  # after redirects
    status: int
    content_type: str
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def text(self) -> str:
        return self.body.decode(_charset(self.content_type), errors="replace")


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


def _guess_file_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".xml", ".rss", ".atom"}:
        return "application/xml"
    if suffix in {".html", ".htm"}:
        return "text/html; charset=utf-8"
    return "application/octet-stream"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class Fetcher:
    """Thread-safe; one instance serves a whole crawl so connections and robots.txt are shared."""

    def __init__(self, policy: FetchPolicy | None = None, headers: dict[str, str] | None = None) -> None:
        self.policy = policy or FetchPolicy()
        self._client = httpx.Client(
            headers={"User-Agent": self.policy.user_agent, **(headers or {})},
            timeout=self.policy.timeout_s,
            follow_redirects=True,
            max_redirects=5,
        )
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._robots_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Page:
        scheme = urlparse(url).scheme
        if scheme == "file":
            return self._read_file(url)
        if scheme not in {"http", "https"}:
            raise CrawlFailure("bad_url", f"unsupported URL scheme {scheme!r}", url)
        if self.policy.respect_robots and not self._allowed(url):
            raise CrawlFailure("robots_disallowed", "robots.txt disallows this URL for our user agent", url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return self._get_with_retries(url, headers)

    def _get_with_retries(self, url: str, headers: dict[str, str]) -> Page:
        attempt = 0
        while True:
            attempt += 1
            try:
                page = self._get_once(url, headers)
            except httpx.TimeoutException:
                failure = CrawlFailure("timeout", f"no complete answer within {self.policy.timeout_s:g}s", url)
                delay = None
            except httpx.TooManyRedirects:
                raise CrawlFailure("too_many_redirects", "more than 5 redirects", url) from None
            except httpx.TransportError as exc:
                failure = CrawlFailure("connection", f"{type(exc).__name__}: {exc}", url)
                delay = None
            else:
                if page.status < 400 or page.status == 304:
                    return page
                if page.status not in RETRYABLE_STATUS:
                    raise _status_failure(page, url)
                failure = _status_failure(page, url)
                delay = _retry_after(page.headers.get("retry-after"))
            if attempt > self.policy.retries:
                raise failure
            backoff = self.policy.backoff_s * 2 ** (attempt - 1)
            time.sleep(min(self.policy.max_backoff_s, delay if delay is not None else backoff))

    def _get_once(self, url: str, headers: dict[str, str]) -> Page:
        with self._client.stream("GET", url, headers=headers) as response:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.policy.max_bytes:
                raise CrawlFailure("too_large", f"{declared} bytes declared, limit {self.policy.max_bytes}", url)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.policy.max_bytes:
                    raise CrawlFailure("too_large", f"body exceeds the {self.policy.max_bytes}-byte limit", url)
                chunks.append(chunk)
            return Page(
                url=str(response.url),
                status=response.status_code,
                content_type=response.headers.get("content-type", ""),
                body=b"".join(chunks),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                headers={k.lower(): v for k, v in response.headers.items()},
            )

    def _read_file(self, url: str) -> Page:
        path = Path(unquote(urlparse(url).path))
        if not path.is_file():
            raise CrawlFailure("http_404", f"no such file: {path}", url)
        size = path.stat().st_size
        if size > self.policy.max_bytes:
            raise CrawlFailure("too_large", f"{size} bytes, limit {self.policy.max_bytes}", url)
        return Page(url=url, status=200, content_type=_guess_file_type(path), body=path.read_bytes())

    def _allowed(self, url: str) -> bool:
        parts = urlparse(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._robots_lock:
            if origin not in self._robots:
                self._robots[origin] = self._load_robots(origin)
            parser = self._robots[origin]
        return parser is None or parser.can_fetch(self.policy.user_agent, url)

    def _load_robots(self, origin: str) -> urllib.robotparser.RobotFileParser | None:
        """None means no usable robots.txt, which allows everything."""
        try:
            response = self._client.get(urljoin(origin, "/robots.txt"))
        except httpx.HTTPError:
            return None
        if response.status_code >= 400:
            return None
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(response.text.splitlines())
        return parser


def _status_failure(page: Page, url: str) -> CrawlFailure:
    if page.status == 429:
        return CrawlFailure("rate_limited", "HTTP 429 Too Many Requests, still after retries", url)
    if page.status == 404 or page.status == 410:
        return CrawlFailure("http_404", f"HTTP {page.status}: page not found", url)
    if page.status in {401, 403} or page.status >= 500:
        if looks_like_bot_challenge(page.text):
            return CrawlFailure("bot_challenge", f"HTTP {page.status} with a bot-challenge page", url)
    return CrawlFailure("http_error", f"HTTP {page.status}", url)
