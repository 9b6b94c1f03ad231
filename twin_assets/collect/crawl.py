"""One collection run: every configured source of the chosen authors into the raw tables.

A failing source becomes rows in crawl_errors and never stops the others. What is already
stored is only ever added to or updated, so a failed or partial run loses nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import polars as pl

from twin_assets.collect.articles import ArticleCollector
from twin_assets.collect.exports import read_linkedin_export, read_medium_export, read_substack_export
from twin_assets.collect.github import RepositoryCollector
from twin_assets.collect.http import CrawlFailure, Fetcher, FetchPolicy
from twin_assets.collect.records import SourceResult, sha256
from twin_assets.lake import (
    CRAWL_ERRORS,
    RAW_ARTICLES,
    RAW_DOCUMENT_TABLES,
    RAW_POSTS,
    RAW_REPOSITORIES,
    Lake,
    UpsertResult,
)
from twin_assets.settings import Author, Source, SourceKind, TwinConfig

EXPORT_READERS = {
    SourceKind.linkedin_export: read_linkedin_export,
    SourceKind.substack_export: read_substack_export,
    SourceKind.medium_export: read_medium_export,
}

# The raw tables each kind of source can fill: a run for one table crawls only the sources that
# feed it (no repository is cloned for raw_posts).
TABLES_OF_SOURCE_KIND = {
    SourceKind.web: frozenset({RAW_ARTICLES.name}),
    SourceKind.linkedin_export: frozenset({RAW_ARTICLES.name, RAW_POSTS.name}),
    SourceKind.substack_export: frozenset({RAW_ARTICLES.name}),
    SourceKind.medium_export: frozenset({RAW_ARTICLES.name}),
    SourceKind.github: frozenset({RAW_REPOSITORIES.name}),
    SourceKind.git: frozenset({RAW_REPOSITORIES.name}),
}
ALL_RAW_TABLES = frozenset({*RAW_DOCUMENT_TABLES, CRAWL_ERRORS.name})


@dataclass(frozen=True)
class CrawlOptions:
    policy: FetchPolicy = FetchPolicy()
    min_article_chars: int = 200
    github_api_url: str = "https://api.github.com"
    github_token: str | None = None
    max_file_bytes: int = 200_000


@dataclass
class CrawlReport:
    tables: dict[str, UpsertResult] = field(default_factory=dict)
    errors: UpsertResult | None = None
    errors_cleared: int = 0
    files_removed: int = 0  # rows of files that left their repository
    sources: list[SourceResult] = field(default_factory=list)

    def by_source_kind(self) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = {}
        for result in self.sources:
            entry = counts.setdefault(result.source_kind, Counter())
            entry["sources"] += 1
            entry["documents"] += len(result.documents)
            entry["failed"] += len(result.failures)
            entry["not_modified"] += result.not_modified
            entry["skipped"] += sum(result.skipped.values())
        return {kind: dict(c) for kind, c in sorted(counts.items())}

    def error_kinds(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for r in self.sources for f in r.failures).items()))

    def skipped_reasons(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for result in self.sources:
            total.update(result.skipped)
        return dict(sorted(total.items()))


def _metadata_values(lake: Lake, table, key: str, fields: tuple[str, ...]) -> dict[str, tuple]:
    """Map metadata[key] -> tuple(metadata[f] for f in fields) over a raw table's rows."""
    stored = lake.read(table, columns=["metadata"])
    values: dict[str, tuple] = {}
    for text in stored["metadata"].to_list():
        meta = json.loads(text or "{}")
        if meta.get(key):
            values[meta[key]] = tuple(meta.get(f) for f in fields)
    return values


class Crawler:
    def __init__(self, lake: Lake, options: CrawlOptions | None = None) -> None:
        self.lake = lake
        self.options = options or CrawlOptions()

    def _collect_source(self, author: Author, source: Source, articles: ArticleCollector,
                        repositories: RepositoryCollector, validators: dict, commits: dict) -> SourceResult:
        kind = source.kind
        if kind is SourceKind.web:
            return articles.collect(author.id, source.location, validators)
        if kind in EXPORT_READERS:
            return EXPORT_READERS[kind](author.id, source.location)
        return repositories.collect(author.id, source.location, kind.value, commits)

    def run(
        self, config: TwinConfig, author_ids: Iterable[str] | None = None, tables: Collection[str] = ALL_RAW_TABLES,
    ) -> CrawlReport:
        """Crawl the chosen authors' sources into `tables`. Only sources that can fill a chosen
        document table are crawled; crawl_errors alone re-checks every source."""
        unknown = set(tables) - ALL_RAW_TABLES
        if unknown:
            raise ValueError(f"not raw tables: {', '.join(sorted(unknown))}")
        document_tables = set(tables) & set(RAW_DOCUMENT_TABLES) or set(RAW_DOCUMENT_TABLES)
        selected = [config.author(a) for a in author_ids] if author_ids else list(config.authors)
        validators = _metadata_values(self.lake, RAW_ARTICLES, "fetch_url", ("etag", "last_modified"))
        commits = {repo: commit for repo, (commit,) in
                   _metadata_values(self.lake, RAW_REPOSITORIES, "repository", ("commit",)).items()}
        report = CrawlReport()
        with Fetcher(self.options.policy) as fetcher:
            articles = ArticleCollector(fetcher, min_chars=self.options.min_article_chars)
            repositories = RepositoryCollector(
                self.options.policy, api_base=self.options.github_api_url, token=self.options.github_token,
                max_file_bytes=self.options.max_file_bytes,
            )
            try:
                for author in selected:
                    for source in author.sources:
                        if not TABLES_OF_SOURCE_KIND[source.kind] & document_tables:
                            continue
                        try:
                            result = self._collect_source(author, source, articles, repositories, validators, commits)
                        except Exception as exc:  # a bug in one collector must not cost the other sources
                            result = SourceResult(author.id, source.location, source.kind.value)
                            result.fail(CrawlFailure("internal_error", f"{type(exc).__name__}: {exc}"))
                        report.sources.append(result)
            finally:
                repositories.close()
        self._store(report, set(tables))
        return report

    def _store(self, report: CrawlReport, tables: set[str]) -> None:
        crawled_at = datetime.now(timezone.utc)
        for name, spec in RAW_DOCUMENT_TABLES.items():
            if name not in tables:
                continue
            rows = [d.row(crawled_at) for r in report.sources for d in r.documents if d.table == name]
            frame = pl.DataFrame(rows, schema=spec.schema) if rows else spec.empty()
            report.tables[name] = self.lake.upsert(spec, frame)
        if RAW_REPOSITORIES.name in tables:
            report.files_removed = self._remove_deleted_files(report)
        if CRAWL_ERRORS.name not in tables:
            return
        error_rows = [row for r in report.sources for row in r.error_rows(crawled_at)]
        report.errors = self.lake.upsert(CRAWL_ERRORS, pl.DataFrame(error_rows, schema=CRAWL_ERRORS.schema))
        failing = {row["id"] for row in error_rows}
        recovered = {sha256(f"{r.author_id}\n{url}") for r in report.sources for url in r.succeeded_urls}
        report.errors_cleared = self.lake.delete(CRAWL_ERRORS, sorted(recovered - failing))

    def _remove_deleted_files(self, report: CrawlReport) -> int:
        """Files gone from a repository read whole this run leave raw_repositories, so they leave downstream too."""
        current = {repo: ids for r in report.sources for repo, ids in r.complete_repositories.items()}
        if not current:
            return 0
        stored = self.lake.read(RAW_REPOSITORIES, columns=["id", "metadata"])
        gone = [
            row_id
            for row_id, meta in stored.iter_rows()
            if (repository := json.loads(meta or "{}").get("repository")) in current and row_id not in current[repository]
        ]
        return self.lake.delete(RAW_REPOSITORIES, gone)
