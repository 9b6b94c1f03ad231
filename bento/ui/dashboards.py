"""What the Collect, Models and Monitoring pages show, as plain functions over the JSON lines of
`twin collect --json`, registry versions and polars frames. No web framework and no dagster here:
the page modules read the tables and the registry and render; these functions do the arithmetic,
so they are unit-tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from twin_assets.models.evaluation import HIGHER_IS_BETTER, is_style_metric
from twin_assets.models.plots import grouped_bars, inline_svg, line_chart
from twin_assets.monitoring.metrics import INPUT_COLUMNS, hourly_metrics, window_start

# ---------------------------------------------------------------------------------------------
# Collect: the events of `twin collect --json`, folded into what the page shows.

RAW_TABLES = ("raw_articles", "raw_posts", "raw_repositories")


def collection_outcome(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The state of one collection after `events` (in the order printed): its phase in words, the
    run id, per raw table the documents new (inserted), changed (updated) and unchanged, the
    errors of this run by kind, the checks, and once `done` arrived its success and error."""
    outcome: dict[str, Any] = {
        "phase": "starting", "run_id": None, "authors": [], "tables": {}, "errors_by_kind": {}, "failed_sources": 0,
        "errors_stored": None, "errors_cleared": 0, "checks": [], "success": None, "error": None, "done": False,
    }
    reached = 0  # how many of STAGES have begun
    for event in events:
        kind = event.get("event")
        if kind == "preparing":
            outcome["phase"] = "loading the pipeline code"
            reached = max(reached, 1)
        elif kind == "started":
            outcome.update(run_id=event.get("run_id"), authors=list(event.get("authors") or []),
                           phase="starting the Dagster run")
        elif kind == "step" and event.get("status") == "started":
            crawl = event.get("step") == "raw_collection"
            outcome["phase"] = "crawling the sources" if crawl else f"running {event.get('step')}"
            reached = max(reached, 2 if crawl else 4)
        elif kind == "table":
            reached = max(reached, 3)
            outcome["tables"][event["table"]] = {
                "new": int(event.get("inserted") or 0), "changed": int(event.get("updated") or 0),
                "unchanged": int(event.get("unchanged") or 0), "rows": event.get("row_count"),
                "removed": event.get("removed"),
            }
            outcome["phase"] = f"stored {event['table']}"
        elif kind == "errors":
            outcome.update(errors_by_kind=dict(event.get("errors_by_kind_this_run") or {}),
                           failed_sources=int(event.get("failed_this_run") or 0), errors_stored=event.get("row_count"),
                           errors_cleared=int(event.get("cleared") or 0))
        elif kind == "check":
            outcome["checks"].append({"name": f"{event.get('asset')} · {event.get('check')}", "passed": bool(event.get("passed"))})
            outcome["phase"] = "checking the tables"
            reached = max(reached, 4)
        elif kind == "done":
            outcome.update(done=True, success=bool(event.get("success")), error=event.get("error"),
                           run_id=event.get("run_id") or outcome["run_id"])
            outcome["errors_by_kind"] = dict(event.get("errors_by_kind") or outcome["errors_by_kind"])
            outcome["phase"] = "finished" if outcome["success"] else "failed"
    totals = {name: sum(t[name] for t in outcome["tables"].values()) for name in ("new", "changed", "unchanged")}
    outcome["totals"] = totals
    outcome["stages"] = stages(reached, outcome["done"], outcome["success"])
    return outcome


STAGES = ("load the pipeline code", "crawl the sources", "store the raw tables", "check the tables")


def stages(reached: int, done: bool, success: bool | None) -> list[dict[str, str]]:
    """Each stage of a collection with its state: done, active, failed or pending."""
    states = []
    if done and not success:
        reached = max(reached, 1)
    for number, name in enumerate(STAGES, 1):
        if done and success:
            state = "done"
        elif number < reached:
            state = "done"
        elif number == reached:
            state = "failed" if done else "active"
        else:
            state = "pending"
        states.append({"name": name, "state": state})
    return states


# ---------------------------------------------------------------------------------------------
# Models: registry versions side by side with their numbers from model_evaluation.

ALL = "all"
SHARED_ROLES = ("retrieval", "verifier")  # rows about the whole system, not one model
def latest_scores(evaluations: pl.DataFrame) -> pl.DataFrame:
    """The latest value of each model, metric and category: a model scored in several evaluations
    (as the candidate, then as production) shows what it scored last."""
    if evaluations.is_empty():
        return evaluations
    return (evaluations.sort("evaluated_at", nulls_last=False)
            .group_by("model", "metric", "category", maintain_order=True).last()
            .sort("model", "metric", "category"))


@dataclass(frozen=True)
class ModelColumn:
    """One model in the comparison: a registry version or the base model."""

    label: str  # `v2 second`, or the base model's identity
    kind: str  # production, candidate (the alias), version (another registered one) or base
    version: int | None = None
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    evaluated_as: str | None = None  # the `model` its rows carry in model_evaluation


@dataclass(frozen=True)
class MetricRow:
    metric: str
    category: str
    higher_is_better: bool
    values: tuple[float | None, ...]  # one per column
    best: int | None  # the column with the best value, when two or more have one


@dataclass(frozen=True)
class Comparison:
    columns: tuple[ModelColumn, ...]
    rows: tuple[MetricRow, ...]
    shared: tuple[tuple[str, str, float], ...]  # (metric, category, value) of retrieval and the verifier

    def row(self, metric: str, category: str = ALL) -> MetricRow | None:
        return next((r for r in self.rows if r.metric == metric and r.category == category), None)

    @property
    def categories(self) -> list[str]:
        return list(dict.fromkeys(r.category for r in self.rows))


def evaluated_name(version: Any) -> str:
    """How model_evaluation names a registry version: `v<N> <twin version>`."""
    return f"v{version.version} {version.tags.get('twin_version', '')}".strip()


def authors_evaluations(evaluations: pl.DataFrame, versions: Sequence[Any]) -> pl.DataFrame:
    """The rows of the evaluations that scored one of `versions` (one author's): model_evaluation
    holds every author's, and the base model, retrieval and verifier rows belong to an evaluation."""
    if evaluations.is_empty():
        return evaluations
    names = [evaluated_name(v) for v in versions]
    ids = evaluations.filter(pl.col("model").is_in(names))["evaluation"].unique()
    return evaluations.filter(pl.col("evaluation").is_in(ids.implode()) & (
        pl.col("model").is_in(names) | (pl.col("role").is_in(["base", *SHARED_ROLES]))))


def model_columns(versions: Sequence[Any], production: int | None, evaluations: pl.DataFrame) -> list[ModelColumn]:
    """Production first, then the other versions newest first, then each base model scored."""
    models = set(evaluations["model"].to_list()) if not evaluations.is_empty() else set()
    ordered = sorted(versions, key=lambda v: (v.version != production, -v.version))
    columns = []
    for v in ordered:
        kind = "production" if v.version == production else ("candidate" if "candidate" in v.aliases else "version")
        label = evaluated_name(v)
        columns.append(ModelColumn(label, kind, v.version, tuple(v.aliases), dict(v.tags), label if label in models else None))
    if not evaluations.is_empty():
        bases = evaluations.filter(pl.col("role") == "base")["model"].unique().sort().to_list()
        columns.extend(ModelColumn(name, "base", evaluated_as=name) for name in bases)
    return columns


def _best(values: Sequence[float | None], higher_is_better: bool) -> int | None:
    present = [(value, index) for index, value in enumerate(values) if value is not None]
    if len(present) < 2:
        return None
    return (max if higher_is_better else min)(present)[1]


def comparison(versions: Sequence[Any], production: int | None, evaluations: pl.DataFrame) -> Comparison:
    """Every model's latest number of every metric and category, side by side; retrieval and the
    verifier, which belong to no one model, apart."""
    latest = latest_scores(authors_evaluations(evaluations, versions))
    columns = model_columns(versions, production, latest)
    values: dict[tuple[str, str], dict[str, float]] = {}
    shared = []
    for r in latest.iter_rows(named=True) if not latest.is_empty() else ():
        if is_style_metric(r["metric"]):
            continue  # the single style_profile_distance row stands for the profile here
        if r["role"] in SHARED_ROLES:
            shared.append((r["metric"], r["category"], r["value"]))
        else:
            values.setdefault((r["metric"], r["category"]), {})[r["model"]] = r["value"]
    metric_order = {name: n for n, name in enumerate(HIGHER_IS_BETTER)}
    keys = sorted(values, key=lambda key: (key[1] != ALL, key[1], metric_order.get(key[0], len(metric_order)), key[0]))
    rows = []
    for metric, category in keys:
        cells = tuple(values[(metric, category)].get(c.evaluated_as) if c.evaluated_as else None for c in columns)
        higher = HIGHER_IS_BETTER.get(metric, True)
        rows.append(MetricRow(metric, category, higher, cells, _best(cells, higher)))
    return Comparison(tuple(columns), tuple(rows), tuple(sorted(shared)))


def comparison_charts(table: Comparison) -> list[tuple[str, str]]:
    """(title, SVG) bar charts: one per metric, a group of bars per category and a bar per model,
    so that metrics in different units never share an axis."""
    charts = []
    for metric in dict.fromkeys(r.metric for r in table.rows):
        groups: dict[str, dict[str, float]] = {}
        for r in table.rows:
            if r.metric != metric:
                continue
            bars = {c.label: v for c, v in zip(table.columns, r.values, strict=True) if v is not None}
            if bars:
                groups[r.category] = bars
        if groups:
            better = "higher" if HIGHER_IS_BETTER.get(metric, True) else "lower"
            title = f"{metric} ({better} is better)"
            charts.append((title, inline_svg(grouped_bars(groups, title, metric))))
    return charts


LINEAGE_TAGS = ("twin_version", "base_model", "backend", "config_hash", "code_version", "dagster_run_id", "mlflow_run_id",
                "promoted_at", "promoted_by", "promotion_reason")


def lineage(columns: Sequence[ModelColumn]) -> list[tuple[str, list[str]]]:
    """(tag, value per registry version) for the versions' lineage tags: the known ones first, then
    the dataset versions and any other tag, in name order."""
    versions = [c for c in columns if c.version is not None]
    names = {name for c in versions for name in c.tags}
    order = [n for n in LINEAGE_TAGS if n in names] + sorted(n for n in names if n not in LINEAGE_TAGS)
    return [(name, [c.tags.get(name, "") for c in versions]) for name in order]


# ---------------------------------------------------------------------------------------------
# Monitoring: prompt_metrics as stored, and the same aggregation over the last hours of prompt_logs.

LIVE_HOURS = 24


def live_metrics(logs: pl.DataFrame, now: datetime, hours: int = LIVE_HOURS) -> pl.DataFrame:
    """prompt_metrics' rows for the last `hours` hours (the hour in progress counted) of `logs`,
    computed by the prompt_metrics asset's own function."""
    recent = logs.select(INPUT_COLUMNS).filter(pl.col("started_at") >= window_start(now, hours))
    return hourly_metrics(recent)


def hourly_rows(metrics: pl.DataFrame) -> list[dict[str, Any]]:
    """The table's rows, newest hour first."""
    if metrics.is_empty():
        return []
    return metrics.sort(["hour", "model_version", "endpoint"], descending=[True, False, False]).to_dicts()


def summary(metrics: pl.DataFrame) -> dict[str, Any]:
    """Totals over the rows: requests, errors and error rate, feedback; the slowest p95s."""
    if metrics.is_empty():
        return {"requests": 0, "errors": 0, "error_rate": None, "latency_p95_s": None, "ttft_p95_s": None,
                "feedback": 0, "edits": 0, "hours": 0}
    requests, errors = int(metrics["requests"].sum()), int(metrics["errors"].sum())
    return {
        "requests": requests, "errors": errors, "error_rate": errors / requests if requests else None,
        "latency_p95_s": metrics["latency_p95_s"].max(), "ttft_p95_s": metrics["ttft_p95_s"].max(),
        "feedback": int(metrics["feedback_count"].sum()), "edits": int(metrics["edits"].sum()),
        "hours": metrics["hour"].n_unique(),
    }


def _series_names(metrics: pl.DataFrame) -> pl.Expr:
    """A line per endpoint, or per model version and endpoint when several versions served."""
    if metrics["model_version"].n_unique() > 1:
        return pl.concat_str([pl.col("model_version"), pl.col("endpoint")], separator=" · ")
    return pl.col("endpoint")


COUNTS = frozenset({"requests", "errors", "feedback_count", "edits"})  # an hour without a row counted none


def chart_series(metrics: pl.DataFrame, columns: Mapping[str, str], latest: datetime | None = None,
                 hours: int | None = None) -> dict[str, list[tuple[float, float]]]:
    """{line name: [(hours before `latest`, value)]} of each column (`columns` maps a column to
    the name it adds after the series name); `latest` defaults to the latest hour in `metrics`.
    Counts are 0 in the hours without a row, from the first hour with one (or `hours` before
    `latest`) on; other values are left out where there is none."""
    if metrics.is_empty():
        return {}
    latest = metrics["hour"].max() if latest is None else latest
    frame = metrics.with_columns(series=_series_names(metrics),
                                 x=((pl.col("hour") - latest).dt.total_minutes() / 60.0).round(0)).sort("series", "x")
    first = int(frame["x"].min()) if hours is None else min(int(frame["x"].min()), 1 - hours)
    lines: dict[str, list[tuple[float, float]]] = {}
    for column, suffix in columns.items():
        for (name,), rows in frame.drop_nulls(column).group_by("series", maintain_order=True):
            points = dict(zip(rows["x"].to_list(), rows[column].cast(pl.Float64).to_list(), strict=True))
            if column in COUNTS:
                points = {float(x): points.get(float(x), 0.0) for x in range(first, 1)}
            if points:
                lines[f"{name} {suffix}".strip()] = sorted(points.items())
    return lines


MONITORING_CHARTS = (
    ("Requests per hour", "requests", {"requests": ""}),
    ("Error rate", "share of requests", {"error_rate": ""}),
    ("Latency p50 / p95", "seconds", {"latency_p50_s": "p50", "latency_p95_s": "p95"}),
    ("Time to first token p50 / p95", "seconds", {"ttft_p50_s": "p50", "ttft_p95_s": "p95"}),
    ("Feedback per hour", "answers", {"feedback_count": "rated", "edits": "edited"}),
)


def monitoring_charts(metrics: pl.DataFrame, now: datetime | None = None, hours: int | None = None) -> list[tuple[str, str]]:
    """(title, SVG) line charts over the hours in `metrics`, or over the `hours` hours up to `now`'s;
    a chart with nothing to draw is left out."""
    latest = now.replace(minute=0, second=0, microsecond=0) if now is not None else None
    x_label = "hours before the latest hour" if now is None else "hours before this hour"
    charts = []
    for title, unit, columns in MONITORING_CHARTS:
        series = chart_series(metrics, columns, latest, hours)
        if series:
            charts.append((title, inline_svg(line_chart(series, title, x_label, unit))))
    return charts
