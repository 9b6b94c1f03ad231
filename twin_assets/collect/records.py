"""What collectors produce: documents for the raw tables and failures for crawl_errors."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

from twin_assets.collect.http import CrawlFailure

ARTICLE, POST, REPOSITORY = "article", "post", "repository"
TABLE_OF_CATEGORY = {ARTICLE: "raw_articles", POST: "raw_posts", REPOSITORY: "raw_repositories"}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def text_key(document_id: str, text: str) -> str:
    """The key of a piece cut from a document (a chunk, a sample): the same text of the same document, the same key."""
    return sha256(f"{document_id}\n{text}")


def platform_of(url: str) -> str:
    host = (urlparse(url).hostname or "").lower()
    for platform in ("medium", "substack", "linkedin", "github"):
        if host == f"{platform}.com" or host.endswith(f".{platform}.com"):
            return platform
    return "web"


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@dataclass(frozen=True)
class Document:
    canonical_source: str  # URL, export path or repository URL + file path: the identity of the piece
    author_id: str
    platform: str
    category: str
    url: str
    title: str | None
    content: str
    published_at: datetime | None
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return sha256(self.canonical_source)

    @property
    def table(self) -> str:
        return TABLE_OF_CATEGORY[self.category]

    def row(self, crawled_at: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "author_id": self.author_id,
            "platform": self.platform,
            "category": self.category,
            "url": self.url,
            "title": self.title,
            "content": self.content,
            "published_at": utc(self.published_at),
            "crawled_at": crawled_at,
            "content_hash": sha256(self.content),
            "source": self.source,
            "metadata": json.dumps(self.metadata, sort_keys=True, default=str),
        }


@dataclass
class SourceResult:
    """Everything one configured source yielded in one run."""

    author_id: str
    source: str
    source_kind: str
    documents: list[Document] = field(default_factory=list)
    failures: list[CrawlFailure] = field(default_factory=list)
    not_modified: int = 0  # skipped without download: conditional request or unchanged commit
    succeeded_urls: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # files or entries left out on purpose, by reason
    # Repositories read whole this run: repository URL -> ids of the files it holds now.
    complete_repositories: dict[str, set[str]] = field(default_factory=dict)

    def fail(self, failure: CrawlFailure) -> None:
        if not failure.url:
            failure.url = self.source
        self.failures.append(failure)

    def error_rows(self, occurred_at: datetime) -> list[dict[str, Any]]:
        return [
            {
                "id": sha256(f"{self.author_id}\n{f.url}"),
                "author_id": self.author_id,
                "source": self.source,
                "url": f.url,
                "kind": f.kind,
                "message": f.message,
                "occurred_at": occurred_at,
            }
            for f in self.failures
        ]
