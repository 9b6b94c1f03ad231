"""Articles from Medium, Substack or any blog: feed discovery, then extraction with newspaper4k."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlparse

from lxml import html as lxml_html

from twin_assets.collect.html_text import drop_title_heading, html_to_text
from twin_assets.collect.http import CrawlFailure, Fetcher, Page
from twin_assets.collect.pages import looks_like_bot_challenge, looks_like_paywall
from twin_assets.collect.records import ARTICLE, Document, SourceResult, platform_of, utc

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
_FEED_START = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(rss|feed|rdf:RDF)\b", re.DOTALL)


@dataclass(frozen=True)
class FeedEntry:
    url: str
    title: str | None = None
    published_at: datetime | None = None


@dataclass(frozen=True)
class ExtractedArticle:
    title: str | None
    authors: list[str]
    published_at: datetime | None
    text: str
    canonical_url: str | None
    language: str | None


def is_feed(page: Page) -> bool:
    content_type = page.content_type.split(";")[0].strip().lower()
    if content_type in FEED_TYPES or content_type.endswith("+xml"):
        return True
    return content_type in {"application/xml", "text/xml", ""} and bool(_FEED_START.match(page.body[:4096]))


def is_html(page: Page) -> bool:
    content_type = page.content_type.split(";")[0].strip().lower()
    if content_type in {"text/html", "application/xhtml+xml"}:
        return True
    return content_type == "" and b"<html" in page.body[:4096].lower()


def known_feed_url(url: str) -> str | None:
    """Where Medium and Substack publish a profile's feed, so the profile page need not be parsed."""
    parts = urlparse(url)
    host = (parts.hostname or "").lower()
    path = parts.path.rstrip("/")
    if host == "medium.com" and re.fullmatch(r"/@[^/]+", path):
        return f"{parts.scheme}://{parts.netloc}/feed{path}"
    if host.endswith(".medium.com") and path == "":
        return f"{parts.scheme}://{parts.netloc}/feed"
    if host.endswith(".substack.com") and path == "":
        return f"{parts.scheme}://{parts.netloc}/feed"
    return None


def feed_links(page: Page) -> list[str]:
    """Feeds a page advertises with <link rel="alternate" type="application/rss+xml" href=...>."""
    try:
        root = lxml_html.fromstring(page.body)
    except (ValueError, lxml_html.etree.ParserError):
        return []
    links = []
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        if "alternate" in rel and (link.get("type") or "").lower() in FEED_TYPES and link.get("href"):
            links.append(urljoin(page.url, link.get("href")))
    return links


def parse_feed(page: Page) -> list[FeedEntry]:
    import feedparser

    parsed = feedparser.parse(page.body)
    if parsed.bozo and not parsed.entries:
        raise CrawlFailure("bad_feed", f"feed could not be parsed: {parsed.get('bozo_exception')}", page.url)
    entries = []
    for entry in parsed.entries:
        link = entry.get("link")
        if not link:
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        entries.append(
            FeedEntry(
                url=urljoin(page.url, link),
                title=entry.get("title"),
                published_at=utc(datetime(*stamp[:6])) if stamp else None,
            )
        )
    return entries


def extract_article(markup: str, url: str) -> ExtractedArticle:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # newspaper warns that the optional nltk extra is absent
        from newspaper import Article, Config

    config = Config()
    config.fetch_images = False  # each image fetch blocks on the network; we never store images
    config.keep_article_html = True
    config.memorize_articles = False
    config.disable_category_cache = True
    article = Article(url, config=config)
    article.download(input_html=markup)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        article.parse()
    title = article.title or None
    text = drop_title_heading(html_to_text(article.article_html) or article.text.strip(), title)
    return ExtractedArticle(
        title=title,
        authors=list(article.authors),
        published_at=utc(article.publish_date) if isinstance(article.publish_date, datetime) else None,
        text=text,
        canonical_url=article.canonical_link or None,
        language=article.meta_lang or None,
    )


def _canonical(extracted_url: str | None, fetched_url: str) -> str:
    """The page's canonical URL when it names one on the web, so a cross-fetched piece keeps one id."""
    if extracted_url and urlparse(extracted_url).scheme in {"http", "https"}:
        return extracted_url
    return fetched_url


class ArticleCollector:
    def __init__(self, fetcher: Fetcher, min_chars: int = 200) -> None:
        self.fetcher = fetcher
        self.min_chars = min_chars

    def discover(self, url: str) -> tuple[list[FeedEntry], Page | None]:
        """Article URLs behind a feed, profile or blog URL; a lone article comes back with its page."""
        hinted = known_feed_url(url)
        if hinted:
            try:
                feed = self.fetcher.get(hinted)
                if is_feed(feed):
                    return parse_feed(feed), None
            except CrawlFailure:
                pass  # fall back to the page itself
        page = self.fetcher.get(url)
        if is_feed(page):
            return parse_feed(page), None
        if not is_html(page):
            raise CrawlFailure("not_html", f"expected a feed or an HTML page, got {page.content_type or 'no type'}", url)
        for feed_url in feed_links(page):
            feed = self.fetcher.get(feed_url)
            if is_feed(feed):
                return parse_feed(feed), None
        return [FeedEntry(url=page.url)], page

    def article(self, author_id: str, source: str, entry: FeedEntry, page: Page) -> Document:
        if not is_html(page):
            raise CrawlFailure("not_html", f"expected HTML, got {page.content_type or 'no content type'}", entry.url)
        markup = page.text
        if looks_like_bot_challenge(markup):
            raise CrawlFailure("bot_challenge", "a bot-challenge page was served instead of the article", entry.url)
        try:
            extracted = extract_article(markup, page.url)
        except Exception as exc:  # newspaper raises many types on broken markup
            raise CrawlFailure("parse_error", f"could not extract the article: {exc}", entry.url) from exc
        if looks_like_paywall(markup, extracted.text, self.min_chars):
            raise CrawlFailure("paywall", "only a paywalled teaser is readable", entry.url)
        if len(extracted.text) < self.min_chars:
            raise CrawlFailure(
                "empty", f"{len(extracted.text)} characters of text, fewer than {self.min_chars}", entry.url
            )
        canonical = _canonical(extracted.canonical_url, page.url)
        return Document(
            canonical_source=canonical,
            author_id=author_id,
            platform=platform_of(canonical),
            category=ARTICLE,
            url=canonical,
            title=extracted.title or entry.title,
            content=extracted.text,
            published_at=extracted.published_at or entry.published_at,
            source=source,
            metadata={
                "authors": extracted.authors,
                "language": extracted.language,
                "fetch_url": entry.url,
                "etag": page.etag,
                "last_modified": page.last_modified,
            },
        )

    def collect(
        self, author_id: str, source: str, validators: Mapping[str, tuple[str | None, str | None]]
    ) -> SourceResult:
        """All articles behind one web source. `validators` maps fetch URL to (ETag, Last-Modified)."""
        result = SourceResult(author_id=author_id, source=source, source_kind="web")
        try:
            entries, lone_page = self.discover(source)
        except CrawlFailure as failure:
            result.fail(failure)
            return result
        result.succeeded_urls.append(source)
        if lone_page is not None:
            self._record(result, entries[0], lone_page)
            return result

        def fetch(entry: FeedEntry) -> tuple[FeedEntry, Page | CrawlFailure]:
            try:
                return entry, self.fetcher.get(entry.url, *validators.get(entry.url, (None, None)))
            except CrawlFailure as failure:
                return entry, failure

        unique = list({e.url: e for e in entries}.values())
        with ThreadPoolExecutor(max_workers=self.fetcher.policy.concurrency) as pool:
            for entry, outcome in pool.map(fetch, unique):
                self._record(result, entry, outcome)
        return result

    def _record(self, result: SourceResult, entry: FeedEntry, page: Page | CrawlFailure) -> None:
        if isinstance(page, CrawlFailure):
            result.fail(page)
            return
        if page.not_modified:
            result.not_modified += 1
            result.succeeded_urls.append(entry.url)
            return
        try:
            result.documents.append(self.article(result.author_id, result.source, entry, page))
            result.succeeded_urls.append(entry.url)
        except CrawlFailure as failure:
            result.fail(failure)
