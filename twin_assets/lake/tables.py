"""Delta tables of the lake: where each lives, its schema, and the key it is upserted on."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

UTC_TIMESTAMP = pl.Datetime("us", "UTC")

DOCUMENT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "author_id": pl.String(),
    "platform": pl.String(),
    "category": pl.String(),
    "url": pl.String(),
    "title": pl.String(),
    "content": pl.String(),
    "published_at": UTC_TIMESTAMP,
    "crawled_at": UTC_TIMESTAMP,
    "content_hash": pl.String(),
    "source": pl.String(),  # the twin.yaml source this row was collected from
    "metadata": pl.String(),  # JSON: authors, language, path, commit, HTTP validators, ...
}

CRAWL_ERROR_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),  # sha256(author_id, url): the latest failure of each source
    "author_id": pl.String(),
    "source": pl.String(),
    "url": pl.String(),
    "kind": pl.String(),
    "message": pl.String(),
    "occurred_at": UTC_TIMESTAMP,
}


@dataclass(frozen=True)
class TableSpec:
    name: str
    layer: str
    schema: dict[str, pl.DataType]
    key: str = "id"
    # Rows whose `compare_on` value is unchanged are not rewritten; None rewrites every matched row.
    compare_on: str | None = "content_hash"

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


RAW_ARTICLES = TableSpec("raw_articles", "raw", DOCUMENT_SCHEMA)
RAW_POSTS = TableSpec("raw_posts", "raw", DOCUMENT_SCHEMA)
RAW_REPOSITORIES = TableSpec("raw_repositories", "raw", DOCUMENT_SCHEMA)
CRAWL_ERRORS = TableSpec("crawl_errors", "raw", CRAWL_ERROR_SCHEMA, compare_on=None)

RAW_DOCUMENT_TABLES = {spec.name: spec for spec in (RAW_ARTICLES, RAW_POSTS, RAW_REPOSITORIES)}
