"""The monitoring page: requests, latency and time-to-first-token percentiles, error rate and
feedback per hour.

Two views of the same numbers: `prompt_metrics` as the hourly Dagster asset last wrote it (and
when), and the same aggregation computed here and now over the last 24 hours of `prompt_logs`
with the asset's own function (`twin_assets.monitoring.metrics.hourly_metrics`), so the page is
useful before the hourly job has run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import polars as pl
from fastapi import APIRouter, Request

from bento.ui import render
from bento.ui.dashboards import LIVE_HOURS, hourly_rows, live_metrics, monitoring_charts, summary

router = APIRouter()
log = logging.getLogger("twin.ui.monitoring")
STORED_HOURS = 48  # how far back from its latest hour the stored table is shown


def _flush_logs(request: Request) -> None:
    """Writes the requests the service has queued, so the live view counts the last seconds too."""
    engine = getattr(request.app.state, "engine", None)
    writer = getattr(engine, "logs", None)
    if writer is None:
        return
    try:
        writer.flush()
    except Exception as exc:  # the log writer retries on its own; the page shows what is stored
        log.warning("flushing the prompt logs before reading them failed: %s", type(exc).__name__)


def last_written(history: list[dict[str, Any]]) -> tuple[datetime | None, int | None]:
    """When the table's latest Delta commit was made (UTC) and its version."""
    if not history:
        return None, None
    latest = max(history, key=lambda entry: entry.get("version", -1))
    stamp = latest.get("timestamp")
    at = datetime.fromtimestamp(stamp / 1000, timezone.utc) if stamp is not None else None
    return at, latest.get("version")


def stored_window(metrics: pl.DataFrame, hours: int = STORED_HOURS) -> pl.DataFrame:
    """The stored buckets of the `hours` hours up to the table's latest hour."""
    if metrics.is_empty():
        return metrics
    return metrics.filter(pl.col("hour") > metrics["hour"].max() - timedelta(hours=hours))


@router.get("/monitoring", include_in_schema=False)
def monitoring_page(request: Request):
    from twin_assets.lake import PROMPT_LOGS, PROMPT_METRICS, Lake
    from twin_assets.monitoring.metrics import INPUT_COLUMNS

    settings = request.app.state.settings
    _flush_logs(request)
    lake = Lake(settings.home)
    now = datetime.now(timezone.utc)
    live = live_metrics(lake.read(PROMPT_LOGS, columns=INPUT_COLUMNS), now, LIVE_HOURS)
    stored_all = lake.read(PROMPT_METRICS)
    stored = stored_window(stored_all)
    written_at, version = last_written(lake.history(PROMPT_METRICS))
    return render(
        request, "monitoring.html",
        now=now, live_hours=LIVE_HOURS, stored_hours=STORED_HOURS,
        live={"rows": hourly_rows(live), "summary": summary(live), "charts": monitoring_charts(live, now, LIVE_HOURS)},
        stored={"rows": hourly_rows(stored), "summary": summary(stored), "charts": monitoring_charts(stored),
                "exists": lake.exists(PROMPT_METRICS), "written_at": written_at, "version": version,
                "hours_total": stored_all["hour"].n_unique() if not stored_all.is_empty() else 0},
    )
