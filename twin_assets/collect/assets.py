"""Collection assets: raw_articles, raw_posts, raw_repositories and crawl_errors, from one crawl."""


import os

import dagster as dg

from twin_assets.collect.crawl import CrawlOptions, Crawler, CrawlReport
from twin_assets.collect.http import DEFAULT_USER_AGENT, FetchPolicy
from twin_assets.lake import CRAWL_ERRORS, RAW_ARTICLES, RAW_POSTS, RAW_REPOSITORIES, Lake, TableSpec
from twin_assets.metadata import counts_by, markdown_sample, table_metadata
from twin_assets.resources import LakeResource, TwinConfigResource

COLLECT_GROUP = "collect"


class CrawlerResource(dg.ConfigurableResource):
    """How politely and how far the crawler reaches. The GitHub token is read from GITHUB_TOKEN."""

    # Defaults come from the domain dataclasses, so they are stated once.
    user_agent: str = DEFAULT_USER_AGENT
    timeout_s: float = FetchPolicy.timeout_s
    max_page_bytes: int = FetchPolicy.max_bytes
    retries: int = FetchPolicy.retries
    backoff_s: float = FetchPolicy.backoff_s
    concurrency: int = FetchPolicy.concurrency
    respect_robots: bool = FetchPolicy.respect_robots
    min_article_chars: int = CrawlOptions.min_article_chars
    github_api_url: str = CrawlOptions.github_api_url
    max_file_bytes: int = CrawlOptions.max_file_bytes

    def options(self) -> CrawlOptions:
        policy = FetchPolicy(
            user_agent=self.user_agent,
            timeout_s=self.timeout_s,
            max_bytes=self.max_page_bytes,
            retries=self.retries,
            backoff_s=self.backoff_s,
            concurrency=self.concurrency,
            respect_robots=self.respect_robots,
        )
        return CrawlOptions(
            policy=policy,
            min_article_chars=self.min_article_chars,
            github_api_url=self.github_api_url,
            # Read at run time and never stored: the token must not reach config or metadata.
            github_token=os.environ.get("GITHUB_TOKEN") or None,
            max_file_bytes=self.max_file_bytes,
        )


class CollectConfig(dg.Config):
    authors: list[str] = []  # empty: every author in twin.yaml


def _document_metadata(lake: Lake, spec: TableSpec, report: CrawlReport) -> dict:
    outcome = report.tables[spec.name]
    stored = lake.read(spec)
    version = lake.version(spec)
    return {
        "dagster/row_count": dg.MetadataValue.int(stored.height),
        "inserted": outcome.inserted,
        "updated": outcome.updated,
        "unchanged": outcome.unchanged,
        **({"removed": report.files_removed} if spec is RAW_REPOSITORIES else {}),
        "delta_version": dg.MetadataValue.int(version) if version is not None else None,
        "path": dg.MetadataValue.path(lake.uri(spec)),
        "rows_by_author": dg.MetadataValue.json(counts_by(stored, "author_id")),
        "rows_by_platform": dg.MetadataValue.json(counts_by(stored, "platform")),
        "sample": dg.MetadataValue.md(markdown_sample(stored.sort("crawled_at", descending=True), ["title", "url", "platform"])),
    }


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "raw_articles", group_name=COLLECT_GROUP, metadata=table_metadata(RAW_ARTICLES), kinds={"delta", "python"},
            description="Articles by each author: feeds and pages extracted with newspaper4k, plus export archives.",
        ),
        dg.AssetSpec(
            "raw_posts", group_name=COLLECT_GROUP, metadata=table_metadata(RAW_POSTS), kinds={"delta", "python"},
            description="Short posts by each author, from LinkedIn's data export.",
        ),
        dg.AssetSpec(
            "raw_repositories", group_name=COLLECT_GROUP, metadata=table_metadata(RAW_REPOSITORIES), kinds={"delta", "github"},
            description="One row per text file of each author's repositories (shallow git clones).",
        ),
        dg.AssetSpec(
            "crawl_errors", group_name=COLLECT_GROUP, metadata=table_metadata(CRAWL_ERRORS), kinds={"delta"},
            description="The latest failure of each source that is failing now; cleared when it succeeds.",
        ),
    ],
    can_subset=True,
    description="Crawls the configured sources once; unchanged content is neither downloaded again nor rewritten. "
    "Selecting some of the tables crawls only the sources that feed them.",
)
def raw_collection(
    context: dg.AssetExecutionContext,
    config: CollectConfig,
    lake: LakeResource,
    crawler: CrawlerResource,
    twin_config: TwinConfigResource,
):
    store = lake.lake()
    tables = {key.to_user_string() for key in context.selected_asset_keys}
    report = Crawler(store, crawler.options()).run(twin_config.load(), config.authors or None, tables)
    by_kind = report.by_source_kind()
    error_kinds = report.error_kinds()
    context.log.info(f"collected {', '.join(sorted(tables))} by source kind: {by_kind}; errors: {error_kinds}")
    for spec in (RAW_ARTICLES, RAW_POSTS, RAW_REPOSITORIES):
        if spec.name in tables:
            yield dg.MaterializeResult(asset_key=spec.name, metadata=_document_metadata(store, spec, report))
    if CRAWL_ERRORS.name not in tables:
        for result in report.sources:
            for failure in result.failures:  # crawl_errors was not selected, so the run log is their record
                context.log.warning(f"{result.source}: {failure.kind}: {failure.message}")
        return
    errors = store.read(CRAWL_ERRORS)
    yield dg.MaterializeResult(
        asset_key=CRAWL_ERRORS.name,
        metadata={
            "dagster/row_count": dg.MetadataValue.int(errors.height),
            "failed_this_run": sum(error_kinds.values()),
            "errors_by_kind_this_run": dg.MetadataValue.json(error_kinds),
            "cleared": report.errors_cleared,
            "by_source_kind": dg.MetadataValue.json(by_kind),
            "skipped_files": dg.MetadataValue.json(report.skipped_reasons()),
            "path": dg.MetadataValue.path(store.uri(CRAWL_ERRORS)),
            "sample": dg.MetadataValue.md(markdown_sample(errors.sort("occurred_at", descending=True), ["url", "kind", "message"])),
        },
    )


collect_job = dg.define_asset_job(
    "collect",
    selection=dg.AssetSelection.assets(raw_collection),
    description="Collect every author, or only those named in the run config (ops.raw_collection.config.authors).",
)

daily_collection = dg.ScheduleDefinition(
    name="daily_collection",
    job=collect_job,
    cron_schedule="0 5 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Collects every author once a day; off until switched on in the UI.",
)
