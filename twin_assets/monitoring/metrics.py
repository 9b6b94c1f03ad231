"""Hourly metrics of the served twin, computed from prompt_logs, and the bounds they are checked against.

Pure polars: the assets read the tables, these functions do the arithmetic. Percentiles use linear
interpolation between the closest ranks (numpy's default), over successful requests only: a failure
that returns at once would otherwise make latency look better.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from twin_assets.collect.records import sha256
from twin_assets.lake.tables import PROMPT_METRICS_SCHEMA
from twin_assets.monitoring.logs import edited_draft

NO_MODEL = "none"  # model_version of requests no model answered (a search)
# The prompt_logs columns the metrics read: no prompt text beyond what telling an edit needs.
INPUT_COLUMNS = [
    "started_at", "endpoint", "model_version", "error", "latency_s", "time_to_first_token_s", "output_tokens",
    "retrieval_latency_s", "retrieval_scores", "answer", "feedback_rating", "feedback_edited_text", "feedback_at",
]
BUCKET = ["hour", "model_version", "endpoint"]


def bucket_id(hour: datetime, model_version: str, endpoint: str) -> str:
    return sha256(f"{hour.isoformat()}|{model_version}|{endpoint}")


def hourly_metrics(logs: pl.DataFrame) -> pl.DataFrame:
    """One row of PROMPT_METRICS_SCHEMA per hour, model_version and endpoint with requests, in that order."""
    ok = pl.col("error").is_null()
    generation_s = pl.col("latency_s") - pl.col("retrieval_latency_s").fill_null(0.0)
    generated = ok & (pl.col("output_tokens") > 0) & (generation_s > 0)
    tokens, seconds = pl.col("output_tokens").filter(generated).sum(), generation_s.filter(generated).sum()
    model = pl.col("model_version")
    frame = logs.select(INPUT_COLUMNS).with_columns(
        hour=pl.col("started_at").dt.truncate("1h"),
        model_version=pl.when(model.is_null() | (model == "")).then(pl.lit(NO_MODEL)).otherwise(model),
        top_score=pl.col("retrieval_scores").list.max(),
        edited=edited_draft(),
    )
    metrics = (
        frame.group_by(BUCKET)
        .agg(
            requests=pl.len(),
            errors=(~ok).sum(),
            latency_p50_s=pl.col("latency_s").filter(ok).quantile(0.5, "linear"),
            latency_p95_s=pl.col("latency_s").filter(ok).quantile(0.95, "linear"),
            ttft_p50_s=pl.col("time_to_first_token_s").filter(ok).quantile(0.5, "linear"),
            ttft_p95_s=pl.col("time_to_first_token_s").filter(ok).quantile(0.95, "linear"),
            output_tokens_per_s=pl.when(seconds > 0).then(tokens / seconds),
            mean_top_retrieval_score=pl.col("top_score").mean(),
            feedback_count=pl.col("feedback_at").is_not_null().sum(),
            mean_rating=pl.col("feedback_rating").cast(pl.Float64).mean(),
            edits=pl.col("edited").sum(),
        )
        .with_columns(error_rate=pl.col("errors") / pl.col("requests"))
        .sort(BUCKET)
    )
    ids = [bucket_id(*key) for key in metrics.select(BUCKET).iter_rows()]
    return metrics.with_columns(bucket_id=pl.Series(ids, dtype=pl.String)).select(
        [pl.col(name).cast(dtype) for name, dtype in PROMPT_METRICS_SCHEMA.items()]
    )


def buckets_to_write(computed: pl.DataFrame, stored_ids: list[str], settled_before: datetime) -> pl.DataFrame:
    """The computed buckets to upsert: all of them, except stored ones older than `settled_before`,
    whose requests retention may have deleted in part. The metrics outlive the logs they came from."""
    settled = (pl.col("hour") < settled_before) & pl.col("bucket_id").is_in(pl.Series(stored_ids, dtype=pl.String).implode())
    return computed.filter(~settled)


@dataclass(frozen=True)
class Bound:
    """A limit on one prompt_metrics column; a bucket crosses it when its value is above (or below) it."""

    check: str
    column: str
    limit: float
    above: bool = True

    def crossed(self) -> pl.Expr:
        value = pl.col(self.column)
        return (value > self.limit) if self.above else (value < self.limit)


@dataclass(frozen=True)
class Crossing:
    hour: datetime
    model_version: str
    endpoint: str
    column: str
    value: float
    limit: float
    above: bool

    def describe(self) -> str:
        sign = ">" if self.above else "<"
        return (f"{self.column} {self.value:.3g} {sign} {self.limit:g} in the hour of {self.hour:%Y-%m-%d %H:%M} UTC "
                f"for {self.model_version} at {self.endpoint}")


def window_start(now: datetime, hours: int) -> datetime:
    """The first hour of the last `hours` hours before `now`, the hour in progress counted."""
    if hours < 1:
        raise ValueError(f"hours must be at least 1, got {hours}")
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)


def crossings(metrics: pl.DataFrame, bound: Bound) -> list[Crossing]:
    """The buckets that cross the bound, worst first; a bucket without a value (no successful
    request, no retrieval) crosses nothing."""
    crossed = metrics.filter(bound.crossed().fill_null(False)).sort(bound.column, descending=bound.above)
    return [
        Crossing(row["hour"], row["model_version"], row["endpoint"], bound.column, row[bound.column], bound.limit, bound.above)
        for row in crossed.iter_rows(named=True)
    ]
