"""Monitoring assets: prompt_logs (written by the service, kept by retention), hourly prompt_metrics,
and the checks on prompt_metrics that are the alerts. An hourly schedule runs all three."""

import os
from datetime import datetime, timedelta, timezone

import dagster as dg
import polars as pl
import polars.selectors as cs

from twin_assets.lake import PROMPT_LOGS, PROMPT_METRICS
from twin_assets.metadata import counts_by, markdown_sample, table_metadata
from twin_assets.models.plots import line_chart, markdown_image, png
from twin_assets.monitoring.logs import delete_older_than, retention_cutoff, tidy
from twin_assets.monitoring.metrics import INPUT_COLUMNS, Bound, buckets_to_write, crossings, hourly_metrics, window_start
from twin_assets.resources import LakeResource

MONITORING_GROUP = "monitoring"
RETENTION_ENV = "TWIN_PROMPT_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30.0
CHART_HOURS = 48
SUMMARY_COLUMNS = [
    "hour", "model_version", "endpoint", "requests", "error_rate", "latency_p95_s", "ttft_p95_s", "output_tokens_per_s",
    "mean_top_retrieval_score", "mean_rating", "edits",
]


class MonitoringResource(dg.ConfigurableResource):
    """How long prompt_logs keeps requests, and the bounds the prompt_metrics checks warn on. The
    checks look at the last `alert_hours` hours (the hour in progress included: the schedule runs
    at five past, so the default 2 covers the hour just finished)."""

    retention_days: float | None = None  # unset: TWIN_PROMPT_RETENTION_DAYS, else 30
    max_error_rate: float = 0.05
    max_p95_latency_s: float = 30.0
    max_p95_ttft_s: float = 5.0
    min_retrieval_score: float = 0.2
    alert_hours: int = 2
    # Hours a deleted row's file is kept for time travel before it is removed from disk (Delta's default).
    keep_files_hours: int = 168
    # Materialization metadata outlives retention (Dagster keeps it): turn the sample of prompts
    # off where prompts hold personal data.
    show_prompts: bool = True

    def retention(self) -> float:
        days = self.retention_days
        if days is None:
            raw = os.environ.get(RETENTION_ENV, "").strip()
            try:
                days = float(raw) if raw else DEFAULT_RETENTION_DAYS
            except ValueError:
                raise dg.Failure(f"{RETENTION_ENV} must be a number of days, not {raw!r}") from None
        if days <= 0:
            raise dg.Failure(f"prompt_logs retention must be a positive number of days, not {days}")
        return days

    def bounds(self) -> list[Bound]:
        return [
            Bound("error_rate", "error_rate", self.max_error_rate),
            Bound("p95_latency", "latency_p95_s", self.max_p95_latency_s),
            Bound("p95_time_to_first_token", "ttft_p95_s", self.max_p95_ttft_s),
            Bound("retrieval_score", "mean_top_retrieval_score", self.min_retrieval_score, above=False),
        ]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _rounded(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(cs.float().round(3))


@dg.asset(
    group_name=MONITORING_GROUP,
    kinds={"delta", "bentoml"},
    metadata=table_metadata(PROMPT_LOGS),
    description="Every request the served twin answered or failed, with its feedback: written by the BentoML "
    "service (bento/prompt_log.py), not by Dagster. It is an asset and not an observable source asset because "
    "Dagster does write to it: materializing it applies retention (requests older than the monitoring "
    "resource's retention_days are deleted, since prompts may hold personal data; their files leave the disk "
    "keep_files_hours later), compacts the service's small batch files, and records its row count, "
    "Delta version, requests per endpoint and a sample of recent requests, so lineage to prompt_metrics and "
    "preference_dataset starts here.",
)
def prompt_logs(context: dg.AssetExecutionContext, lake: LakeResource, monitoring: MonitoringResource):
    store = lake.lake()
    days = monitoring.retention()
    if not store.exists(PROMPT_LOGS):  # no request served yet: readers still find the table
        store.upsert(PROMPT_LOGS, PROMPT_LOGS.empty())
    deleted = delete_older_than(store, days)
    files = tidy(store, monitoring.keep_files_hours)
    logs = store.read(PROMPT_LOGS, columns=["started_at", "endpoint", "model_version", "prompt", "latency_s", "error"])
    context.log.info(f"prompt_logs: {logs.height} requests kept, {deleted} older than {days:g} days deleted")
    metadata = {
        "dagster/row_count": logs.height,
        "delta_version": store.version(PROMPT_LOGS),
        "deleted_by_retention": deleted,
        "retention_days": days,
        **files,
        "oldest_request": str(logs["started_at"].min()) if logs.height else "none",
        "latest_request": str(logs["started_at"].max()) if logs.height else "none",
        "errors": logs["error"].is_not_null().sum(),
        "requests_per_endpoint": dg.MetadataValue.json(counts_by(logs, "endpoint")),
    }
    if monitoring.show_prompts:
        latest = _rounded(logs.sort("started_at", descending=True))
        metadata["recent_requests"] = dg.MetadataValue.md(
            markdown_sample(latest, ["started_at", "endpoint", "model_version", "prompt", "latency_s", "error"], 5, 40)
        )
    return dg.MaterializeResult(metadata=metadata)


def _chart(metrics: pl.DataFrame) -> str | None:
    """Requests and p95 latency per model over the last CHART_HOURS hours with traffic, as Markdown images."""
    if metrics.is_empty():
        return None
    latest = metrics["hour"].max()
    window = metrics.filter(pl.col("hour") > latest - timedelta(hours=CHART_HOURS)).with_columns(
        x=((pl.col("hour") - latest).dt.total_minutes() / 60.0)
    )
    per_model = window.group_by("model_version", "x").agg(pl.col("requests").sum()).sort("model_version", "x")
    requests = {
        model: list(zip(rows["x"], rows["requests"].cast(pl.Float64), strict=True))
        for (model,), rows in per_model.group_by("model_version", maintain_order=True)
    }
    latency = {
        f"{model} {endpoint}": list(zip(rows["x"], rows["latency_p95_s"], strict=True))
        for (model, endpoint), rows in window.drop_nulls("latency_p95_s").sort("x").group_by(
            "model_version", "endpoint", maintain_order=True)
    }
    charts = [markdown_image(png(line_chart(requests, "Requests per hour", "hours before the latest", "requests")),
                             "requests per hour")]
    if latency:
        charts.append(markdown_image(png(line_chart(latency, "p95 latency", "hours before the latest", "seconds")),
                                     "p95 latency"))
    return "\n\n".join(charts)


@dg.asset(
    deps=[prompt_logs],
    group_name=MONITORING_GROUP,
    kinds={"delta", "polars"},
    metadata=table_metadata(PROMPT_METRICS),
    description="prompt_logs per hour, model version and endpoint: requests, error rate, latency and time-to-first-"
    "token percentiles, generation throughput, retrieval scores and feedback. Every hour still in prompt_logs is "
    "recomputed (a month of hourly buckets is cheap, and late feedback changes old hours); hours that retention "
    "has cut into keep their stored values, so the metrics outlive the requests. Its checks are the alerts.",
)
def prompt_metrics(context: dg.AssetExecutionContext, lake: LakeResource, monitoring: MonitoringResource):
    store = lake.lake()
    store.require(PROMPT_LOGS, "prompt_metrics")
    computed = hourly_metrics(store.read(PROMPT_LOGS, columns=INPUT_COLUMNS))
    stored_ids = store.read(PROMPT_METRICS, columns=["bucket_id"])["bucket_id"].to_list()
    cutoff = retention_cutoff(monitoring.retention(), _now())
    settled_before = cutoff.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    result = store.upsert(PROMPT_METRICS, buckets_to_write(computed, stored_ids, settled_before))
    metrics = store.read(PROMPT_METRICS)
    context.log.info(f"prompt_metrics: {computed.height} buckets computed, {result.written} written")
    latest = _rounded(metrics.sort("hour", "model_version", "endpoint", descending=[True, False, False]))
    metadata = {
        "dagster/row_count": metrics.height,
        "delta_version": result.version,
        "prompt_logs_version": store.version(PROMPT_LOGS),
        "buckets_computed": computed.height,
        "inserted": result.inserted,
        "updated": result.updated,
        "latest_hours": dg.MetadataValue.md(markdown_sample(latest, SUMMARY_COLUMNS, 12, 40)),
    }
    chart = _chart(metrics)
    if chart:
        metadata["charts"] = dg.MetadataValue.md(chart)
    return dg.MaterializeResult(metadata=metadata)


def _check_spec(bound: Bound) -> dg.AssetCheckSpec:
    direction = "above" if bound.above else "below"
    return dg.AssetCheckSpec(
        bound.check,
        asset=prompt_metrics,
        blocking=False,
        description=f"Warns when {bound.column} of a recent hour is {direction} the monitoring resource's bound.",
    )


CHECK_SPECS = [_check_spec(bound) for bound in MonitoringResource().bounds()]


def _check_result(bound: Bound, window: pl.DataFrame, since: datetime) -> dg.AssetCheckResult:
    crossed = crossings(window, bound)
    metadata = {
        "column": bound.column,
        "bound": bound.limit,
        "direction": "max" if bound.above else "min",
        "hours_from": str(since),
        "buckets_checked": window.height,
        "crossings": len(crossed),
    }
    if crossed:
        rows = pl.DataFrame([
            {"hour": str(c.hour), "model_version": c.model_version, "endpoint": c.endpoint, "value": round(c.value, 4)}
            for c in crossed
        ])
        metadata["crossed"] = dg.MetadataValue.md(markdown_sample(rows, rows.columns, 20))
        metadata["worst"] = crossed[0].describe()
    description = None
    if crossed:
        description = crossed[0].describe() + (f" (and {len(crossed) - 1} more)" if len(crossed) > 1 else "")
    return dg.AssetCheckResult(
        asset_key=prompt_metrics.key,
        check_name=bound.check,
        passed=not crossed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=description,
    )


@dg.multi_asset_check(specs=CHECK_SPECS, can_subset=True)
def prompt_metrics_alerts(context: dg.AssetCheckExecutionContext, lake: LakeResource, monitoring: MonitoringResource):
    """The alerts: each bound of the monitoring resource, checked on the last hours' buckets."""
    since = window_start(_now(), monitoring.alert_hours)
    window = lake.lake().read(PROMPT_METRICS).filter(pl.col("hour") >= since)
    selected = {key.name for key in context.selected_asset_check_keys}
    for bound in monitoring.bounds():
        if bound.check in selected:
            yield _check_result(bound, window, since)


monitor_twin = dg.define_asset_job(
    "monitor_twin",
    selection=dg.AssetSelection.groups(MONITORING_GROUP),
    description="Apply prompt_logs retention, recompute prompt_metrics and run its alerts.",
)

hourly_monitoring = dg.ScheduleDefinition(
    name="hourly_monitoring",
    job=monitor_twin,
    cron_schedule="5 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="At five past every hour: retention, the hour just finished into prompt_metrics, and the alerts. "
    "On by default, unlike collection: it only reads the service's log, and its checks are the alerts.",
)
