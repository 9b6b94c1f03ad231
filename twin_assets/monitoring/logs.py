"""Retention of prompt_logs: requests may hold personal data, so rows older than a bound are
deleted, and once no recent table version needs them, the files that held them are removed too."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from twin_assets.lake import PROMPT_LOGS, Lake

# The service writes while the asset deletes, compacts and vacuums: a commit that clashes with one
# of its writes is tried again on the new table version (the service retries its side too).
COMMIT_ATTEMPTS = 5
T = TypeVar("T")


def _committed(operation: Callable[[], T]) -> T:
    for attempt in range(1, COMMIT_ATTEMPTS):
        try:
            return operation()
        except CommitFailedError:
            time.sleep(0.2 * attempt)
    return operation()


def retention_cutoff(days: float, now: datetime | None = None) -> datetime:
    """The oldest started_at retention keeps."""
    if days <= 0:
        raise ValueError(f"retention must be a positive number of days, got {days}")
    return (now or datetime.now(timezone.utc)) - timedelta(days=days)


def delete_older_than(lake: Lake, days: float, now: datetime | None = None) -> int:
    """Deletes the requests that started more than `days` before `now` (default: the current time),
    in one commit, and returns how many were deleted; a table never written deletes nothing."""
    cutoff = retention_cutoff(days, now)

    def delete() -> int:
        started = lake.read(PROMPT_LOGS, columns=["trace_id", "started_at"])
        return lake.delete(PROMPT_LOGS, started.filter(pl.col("started_at") < cutoff)["trace_id"].to_list())

    return _committed(delete)


def tidy(lake: Lake, keep_hours: int) -> dict[str, int]:
    """Compacts the small files the service's batches leave (one per write), then removes the files
    no table version of the last `keep_hours` hours uses: rows retention deleted are then gone from
    disk, not only from the table. Time travel on prompt_logs reaches back `keep_hours`."""
    if keep_hours < 0:
        raise ValueError(f"keep_hours must not be negative, got {keep_hours}")
    if not lake.exists(PROMPT_LOGS):
        return {"files_compacted": 0, "files_removed": 0}

    def table() -> DeltaTable:
        return DeltaTable(lake.uri(PROMPT_LOGS), storage_options=lake.storage_options)

    compacted = _committed(lambda: table().optimize.compact())
    removed = _committed(lambda: table().vacuum(retention_hours=keep_hours, dry_run=False, enforce_retention_duration=False))
    return {"files_compacted": int(compacted.get("numFilesRemoved", 0)), "files_removed": len(removed)}


def edited_draft() -> pl.Expr:
    """True for a request whose answer the author edited into something else: the rows that
    become preference pairs (and prompt_metrics' `edits`). Whitespace at either end does not count."""
    edited = pl.col("feedback_edited_text").str.strip_chars()
    answer = pl.col("answer").str.strip_chars()
    return (edited.str.len_chars() > 0).fill_null(False) & (answer.str.len_chars() > 0).fill_null(False) & (edited != answer)
