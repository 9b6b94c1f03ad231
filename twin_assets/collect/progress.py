"""`twin collect --json`: a collect run's progress as JSON lines, read back from the Dagster
instance while the run goes (the web UI's Collect page reads them)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

# What the run's events become: step starts and ends, a materialized table or crawl_errors, a check.
FOLLOWED = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION")


def print_event(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


def _plain(metadata: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name.removeprefix("dagster/"): getattr(metadata[name], "value", metadata[name])
            for name in names if name in metadata}


class CollectProgress:
    """Turns a collect run's Dagster events into progress events, keeping what `done` reports."""

    def __init__(self, emit: Callable[..., None] = print_event) -> None:
        self.emit = emit
        self.tables: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, Any] = {}
        self.checks: list[dict[str, Any]] = []

    def report(self, event: Any) -> None:
        """One DagsterEvent of the run."""
        kind = event.event_type_value
        if kind == "STEP_START":
            self.emit("step", step=event.step_key, status="started")
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            failed = kind == "STEP_FAILURE" and event.step_failure_data.error
            self.emit("step", step=event.step_key, status="succeeded" if kind == "STEP_SUCCESS" else "failed",
                      error=event.step_failure_data.error.message.strip() if failed else None)
        elif kind == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            name, metadata = materialization.asset_key.to_user_string(), materialization.metadata
            if "errors_by_kind_this_run" in metadata:
                self.errors.update(table=name, **_plain(metadata, "dagster/row_count", "failed_this_run", "cleared",
                                                        "errors_by_kind_this_run", "by_source_kind", "skipped_files"))
                self.emit("errors", **self.errors)
            else:
                self.tables[name] = _plain(metadata, "dagster/row_count", "inserted", "updated", "unchanged", "removed",
                                           "delta_version")
                self.emit("table", table=name, **self.tables[name])
        elif kind == "ASSET_CHECK_EVALUATION":
            check = event.event_specific_data
            self.checks.append({"asset": check.asset_key.to_user_string(), "check": check.check_name, "passed": check.passed})
            self.emit("check", **self.checks[-1])

    def done(self, success: bool, run_id: str, error: str | None, seconds: float) -> None:
        self.emit("done", success=success, status="succeeded" if success else "failed", run_id=run_id, tables=self.tables,
                  errors_by_kind=self.errors.get("errors_by_kind_this_run", {}), checks=self.checks, error=error,
                  seconds=round(seconds, 1))

    def follow(self, instance: Any, run_id: str, finished: threading.Event, poll_s: float = 0.5) -> None:
        """Reports the run's events as the run writes them to `instance`, until `finished` is set
        and everything written before that has been reported."""
        import dagster as dg

        wanted = {dg.DagsterEventType(kind) for kind in FOLLOWED}
        cursor = None
        while True:
            last = finished.is_set()
            try:
                while True:
                    page = instance.get_records_for_run(run_id, cursor=cursor, of_type=wanted)
                    for record in page.records:
                        self.report(record.event_log_entry.dagster_event)
                    cursor = page.cursor
                    if not page.has_more:
                        break
            except Exception:  # the run has not been stored yet, or the store is busy: try again shortly
                pass
            if last:
                return
            finished.wait(poll_s)
