"""prompt_metrics arithmetic, the bounds the alerts check, and prompt_logs retention."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from tests.monitoring.rows import log_frame, log_row
from twin_assets.lake import PROMPT_LOGS, PROMPT_METRICS
from twin_assets.monitoring.logs import delete_older_than, tidy
from twin_assets.monitoring.metrics import (
    NO_MODEL,
    Bound,
    bucket_id,
    buckets_to_write,
    crossings,
    hourly_metrics,
    window_start,
)

TEN = datetime(2025, 3, 1, 10, tzinfo=timezone.utc)
MODEL = "twin-jane v3"


def generate_hour() -> list[dict]:
    """Six requests to /generate in the 10:00 hour: five succeed, one fails."""
    latencies, ttfts, tokens = [1.0, 2.0, 3.0, 4.0, 10.0], [0.5, 1.0, 1.5, 2.0, 2.5], [10, 20, 30, 40, 50]
    scores = [[0.9, 0.1], [0.5], [], [0.3, 0.2], [0.7]]
    feedback = [
        {"feedback_rating": 1, "feedback_at": TEN},
        {"feedback_rating": -1, "feedback_edited_text": "The author's version.", "feedback_at": TEN},
        {"feedback_edited_text": " A draft. ", "feedback_at": TEN},  # the same text as the answer: no edit
        {},
        {},
    ]
    rows = [
        log_row(started_at=TEN + timedelta(minutes=i), latency_s=latency, time_to_first_token_s=ttft, output_tokens=n,
                retrieval_latency_s=0.5, retrieved_chunk_ids=[f"c{j}" for j in range(len(s))], retrieval_scores=s, **f)
        for i, (latency, ttft, n, s, f) in enumerate(zip(latencies, ttfts, tokens, scores, feedback, strict=True))
    ]
    failed = log_row(started_at=TEN + timedelta(minutes=59), latency_s=0.01, output_tokens=0, error="LinkError", answer=None)
    return [*rows, failed]


def test_one_hour_of_one_model_and_endpoint_by_hand():
    search = log_row(started_at=TEN + timedelta(hours=1, minutes=5), endpoint="http:/search", operation="search",
                     model_version="", answer=None, latency_s=0.2, retrieval_latency_s=0.2, retrieval_scores=[0.4, 0.35],
                     retrieved_chunk_ids=["a", "b"])
    metrics = hourly_metrics(log_frame(*generate_hour(), search))

    assert metrics.columns == list(PROMPT_METRICS.schema) and metrics.height == 2
    hour = metrics.row(0, named=True)
    assert (hour["hour"], hour["model_version"], hour["endpoint"]) == (TEN, MODEL, "http:/generate")
    assert hour["bucket_id"] == bucket_id(TEN, MODEL, "http:/generate")
    assert (hour["requests"], hour["errors"]) == (6, 1)
    assert hour["error_rate"] == pytest.approx(1 / 6)
    # Successful latencies 1, 2, 3, 4, 10: the median is 3; p95 sits at rank 0.95 * 4 = 3.8, so 4 + 0.8 * (10 - 4).
    assert hour["latency_p50_s"] == pytest.approx(3.0)
    assert hour["latency_p95_s"] == pytest.approx(8.8)
    assert hour["ttft_p50_s"] == pytest.approx(1.5)
    assert hour["ttft_p95_s"] == pytest.approx(2.0 + 0.8 * 0.5)
    # 150 tokens over (1 + 2 + 3 + 4 + 10) - 5 * 0.5 retrieval = 17.5 s of generation; the failure does not count.
    assert hour["output_tokens_per_s"] == pytest.approx(150 / 17.5)
    assert hour["mean_top_retrieval_score"] == pytest.approx((0.9 + 0.5 + 0.3 + 0.7) / 4)
    assert (hour["feedback_count"], hour["mean_rating"], hour["edits"]) == (3, 0.0, 1)

    searched = metrics.row(1, named=True)
    assert (searched["model_version"], searched["endpoint"], searched["requests"]) == (NO_MODEL, "http:/search", 1)
    assert searched["output_tokens_per_s"] is None and searched["ttft_p95_s"] is None
    assert searched["mean_top_retrieval_score"] == pytest.approx(0.4)
    assert searched["mean_rating"] is None and searched["feedback_count"] == 0


def test_models_and_endpoints_are_separate_buckets_with_distinct_ids():
    rows = [log_row(model_version=m, endpoint=e, latency_s=1.0)
            for m in (MODEL, "twin-jane v4") for e in ("http:/generate", "grpc:Generate")]
    metrics = hourly_metrics(log_frame(*rows, *rows))
    assert metrics.height == 4 and metrics["bucket_id"].n_unique() == 4
    assert metrics["requests"].to_list() == [2, 2, 2, 2]


def test_no_logs_no_buckets():
    assert hourly_metrics(PROMPT_LOGS.empty()).is_empty()


def test_stored_buckets_retention_may_have_cut_keep_their_values():
    metrics = hourly_metrics(log_frame(
        log_row(started_at=TEN, latency_s=1.0), log_row(started_at=TEN + timedelta(hours=1), latency_s=1.0),
        log_row(started_at=TEN + timedelta(hours=2), latency_s=1.0),
    ))
    ids = metrics["bucket_id"].to_list()
    written = buckets_to_write(metrics, stored_ids=ids[:2], settled_before=TEN + timedelta(hours=1))
    # 10:00 is stored and settled: kept as stored; 11:00 is stored but not settled; 12:00 is new.
    assert written["bucket_id"].to_list() == ids[1:]
    assert buckets_to_write(metrics, [], TEN + timedelta(hours=5))["bucket_id"].to_list() == ids  # new ones always


def test_crossings_name_the_hour_model_and_endpoint_worst_first():
    metrics = hourly_metrics(log_frame(
        *generate_hour(),
        *[log_row(started_at=TEN, endpoint="grpc:Generate", error="Timeout", latency_s=1.0) for _ in range(2)],
        log_row(started_at=TEN, endpoint="http:/v1/chat/completions", operation="chat", latency_s=1.0),
    ))
    crossed = crossings(metrics, Bound("error_rate", "error_rate", 0.05))
    assert [(c.endpoint, c.value) for c in crossed] == [("grpc:Generate", 1.0), ("http:/generate", pytest.approx(1 / 6))]
    assert crossed[0].describe() == (
        "error_rate 1 > 0.05 in the hour of 2025-03-01 10:00 UTC for twin-jane v3 at grpc:Generate"
    )
    low = crossings(metrics, Bound("retrieval_score", "mean_top_retrieval_score", 0.8, above=False))
    assert [c.endpoint for c in low] == ["http:/generate"]  # the buckets without retrieval cross nothing
    assert crossings(metrics, Bound("p95_latency", "latency_p95_s", 30.0)) == []


def test_the_alert_window_counts_the_hour_in_progress():
    now = datetime(2025, 3, 1, 12, 5, 30, tzinfo=timezone.utc)
    assert window_start(now, 1) == datetime(2025, 3, 1, 12, tzinfo=timezone.utc)
    assert window_start(now, 2) == datetime(2025, 3, 1, 11, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="at least 1"):
        window_start(now, 0)


def test_retention_deletes_only_requests_older_than_the_bound(lake):
    now = datetime(2025, 4, 1, tzinfo=timezone.utc)
    assert delete_older_than(lake, 30, now) == 0  # never written: nothing to delete
    rows = log_frame(
        log_row(trace_id="a" * 32, started_at=now - timedelta(days=31)),
        log_row(trace_id="b" * 32, started_at=now - timedelta(days=30, seconds=1)),
        log_row(trace_id="c" * 32, started_at=now - timedelta(days=29, hours=23)),
        log_row(trace_id="d" * 32, started_at=now),
    )
    lake.upsert(PROMPT_LOGS, rows)
    assert delete_older_than(lake, 30, now) == 2
    assert sorted(lake.read(PROMPT_LOGS)["trace_id"]) == ["c" * 32, "d" * 32]
    version = lake.version(PROMPT_LOGS)
    assert delete_older_than(lake, 30, now) == 0 and lake.version(PROMPT_LOGS) == version  # no empty commit
    assert delete_older_than(lake, 0.5 / 24, now) == 1  # fractions of a day: keeps the last half hour
    with pytest.raises(ValueError, match="positive"):
        delete_older_than(lake, 0, now)


def test_tidying_compacts_the_batches_and_removes_deleted_rows_from_disk(lake):
    assert tidy(lake, 0) == {"files_compacted": 0, "files_removed": 0}  # never written
    now = datetime(2025, 4, 1, tzinfo=timezone.utc)
    for n, age in enumerate([40, 1, 0]):  # three service batches: three files
        lake.upsert(PROMPT_LOGS, log_frame(log_row(trace_id=f"{n:032x}", started_at=now - timedelta(days=age),
                                                   prompt=f"private request {n}")))
    assert delete_older_than(lake, 30, now) == 1
    folder = Path(lake.uri(PROMPT_LOGS))
    on_disk = lambda: pl.concat([pl.read_parquet(f) for f in folder.glob("*.parquet")])["prompt"].to_list()  # noqa: E731
    assert "private request 0" in on_disk()  # deleted from the table, still in an old file

    assert tidy(lake, keep_hours=168)["files_removed"] == 0  # a week of time travel is kept by default
    tidied = tidy(lake, keep_hours=0)
    assert tidied["files_removed"] > 0 and "private request 0" not in on_disk()
    assert sorted(lake.read(PROMPT_LOGS)["prompt"]) == ["private request 1", "private request 2"]
    assert len(list(folder.glob("*.parquet"))) == 1  # compacted
    with pytest.raises(ValueError, match="negative"):
        tidy(lake, -1)


def test_metrics_rows_conform_to_the_table(lake):
    lake.upsert(PROMPT_METRICS, hourly_metrics(log_frame(*generate_hour())))
    assert lake.read(PROMPT_METRICS).height == 1
    stored = lake.read(PROMPT_METRICS)
    assert stored.filter(pl.col("endpoint") == "http:/generate")["edits"].to_list() == [1]
