"""The Monitoring page in a real browser against the real service: after a few requests over HTTP
the page shows the live aggregation of prompt_logs (requests, latency percentiles, charts); with a
hand-written prompt_metrics table its stored hours show, with when it was last written. Plus the
arithmetic: the live window, the totals and the chart lines."""

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from bento.ui.dashboards import chart_series, hourly_rows, live_metrics, monitoring_charts, summary
from bento.ui.monitoring import last_written, stored_window
from tests.bento.browser import needs_chromium, open_page, screenshot
from tests.bento.serving import serving
from twin_assets.lake import PROMPT_LOGS, PROMPT_METRICS, Lake
from twin_assets.monitoring.metrics import bucket_id

API_KEY = "ui-key"
NOW = datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)


def logs(*requests: tuple[timedelta, str, float | None, str | None]) -> pl.DataFrame:
    """prompt_logs rows: (how long before NOW, endpoint, latency, error)."""
    rows = [{
        "trace_id": f"{n:032x}", "started_at": NOW - ago, "endpoint": endpoint, "operation": "text_completion",
        "model_version": "twin-jane v1", "prompt": "p", "answer": "a", "retrieval_scores": [0.4, 0.6],
        "output_tokens": 10, "time_to_first_token_s": latency / 4 if latency else None, "latency_s": latency,
        "retrieval_latency_s": 0.1, "error": error,
    } for n, (ago, endpoint, latency, error) in enumerate(requests)]
    return pl.DataFrame(rows).with_columns(
        [pl.lit(None, dtype).alias(c) for c, dtype in PROMPT_LOGS.schema.items() if c not in rows[0]]
    ).select([pl.col(c).cast(t) for c, t in PROMPT_LOGS.schema.items()])


def stored_metrics(hours_ago: list[int]) -> pl.DataFrame:
    rows = []
    for ago in hours_ago:
        hour = NOW.replace(minute=0) - timedelta(hours=ago)
        rows.append({
            "bucket_id": bucket_id(hour, "twin-jane v1", "http:/generate"), "hour": hour, "model_version": "twin-jane v1",
            "endpoint": "http:/generate", "requests": 10 + ago, "errors": 1, "error_rate": 1 / (10 + ago),
            "latency_p50_s": 1.5, "latency_p95_s": 3.25, "ttft_p50_s": 0.2, "ttft_p95_s": 0.4,
            "output_tokens_per_s": 12.0, "mean_top_retrieval_score": 0.61, "feedback_count": 2, "mean_rating": 0.5,
            "edits": 1,
        })
    return pl.DataFrame(rows, schema=PROMPT_METRICS.schema)


# --- the arithmetic ---------------------------------------------------------------------------

def test_the_live_view_aggregates_the_last_24_hours_with_the_assets_function():
    frame = logs((timedelta(minutes=5), "http:/generate", 2.0, None), (timedelta(minutes=10), "http:/generate", 4.0, None),
                 (timedelta(minutes=20), "http:/generate", None, "timeout"), (timedelta(hours=2), "http:/search", 0.5, None),
                 (timedelta(hours=30), "http:/generate", 9.0, None))  # outside the window
    live = live_metrics(frame, NOW)
    assert live["requests"].sum() == 4 and live.height == 2
    latest = hourly_rows(live)[0]
    assert latest["endpoint"] == "http:/generate" and latest["requests"] == 3 and latest["errors"] == 1
    assert latest["latency_p50_s"] == pytest.approx(3.0) and latest["latency_p95_s"] == pytest.approx(3.9)
    totals = summary(live)
    assert totals["requests"] == 4 and totals["errors"] == 1 and totals["error_rate"] == pytest.approx(0.25)
    assert totals["latency_p95_s"] == pytest.approx(3.9) and totals["hours"] == 2
    assert summary(live.clear())["requests"] == 0 and hourly_rows(live.clear()) == []


def test_chart_lines_per_endpoint_counts_fill_quiet_hours_with_zero():
    metrics = stored_metrics([0, 3])
    requests = chart_series(metrics, {"requests": ""})
    assert requests == {"http:/generate": [(-3.0, 13.0), (-2.0, 0.0), (-1.0, 0.0), (0.0, 10.0)]}
    latency = chart_series(metrics, {"latency_p50_s": "p50", "latency_p95_s": "p95"})
    assert set(latency) == {"http:/generate p50", "http:/generate p95"}
    assert latency["http:/generate p95"] == [(-3.0, 3.25), (0.0, 3.25)]  # no value is not zero
    two_models = pl.concat([metrics, metrics.with_columns(model_version=pl.lit("twin-jane v2"))])
    assert set(chart_series(two_models, {"requests": ""})) == {"twin-jane v1 · http:/generate", "twin-jane v2 · http:/generate"}
    titles = [title for title, _ in monitoring_charts(metrics)]
    assert titles == ["Requests per hour", "Error rate", "Latency p50 / p95", "Time to first token p50 / p95",
                      "Feedback per hour"]
    assert monitoring_charts(metrics.clear()) == []
    # The live view's counts span the whole window up to the hour in progress.
    window = chart_series(metrics, {"requests": ""}, NOW.replace(minute=0) + timedelta(hours=1), 24)["http:/generate"]
    assert len(window) == 24 and window[0] == (-23.0, 0.0) and window[-5:] == [(-4.0, 13.0), (-3.0, 0.0), (-2.0, 0.0), (-1.0, 10.0), (0.0, 0.0)]
    assert "hours before this hour" in monitoring_charts(metrics, NOW, 24)[0][1]


def test_the_stored_table_is_shown_from_its_latest_hour_and_says_when_it_was_written():
    metrics = stored_metrics([0, 1, 60])
    assert stored_window(metrics, 48)["requests"].to_list() == [10, 11]
    at, version = last_written([{"version": 0, "timestamp": 0}, {"version": 3, "timestamp": 1_772_368_200_000}])
    assert version == 3 and at == datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)
    assert last_written([]) == (None, None)


# --- the page, in a browser ------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_base_model):
    home = tmp_path_factory.mktemp("monitoring-home")
    with serving(home, tiny_base_model, TWIN_API_KEYS=API_KEY) as service:
        yield service, home


@needs_chromium
def test_live_requests_then_the_stored_hours(served, chromium, request):
    service, home = served
    with service.client() as client:
        for n in range(3):
            draft = client.post("/generate", json={"prompt": f"Write a post about dashboards, take {n}", "max_new_tokens": 6})
            assert draft.status_code == 200
        assert client.post("/search", json={"query": "dashboards"}).status_code == 200
    page = open_page(chromium, service)
    try:
        page.goto("/monitoring")  # the page writes what the service has queued before it reads
        assert int(page.get_by_test_id("live-requests").inner_text()) >= 4
        assert page.get_by_test_id("live-p95").inner_text().endswith(" s")
        rows = page.get_by_test_id("live-table").locator("tbody tr").all_inner_texts()
        cells = [r.split("\t") for r in rows]  # hour, model, endpoint, requests, ...
        assert sum(int(c[3]) for c in cells if c[2] == "http:/generate") == 3  # two rows if an hour turned meanwhile
        assert {c[1] for c in cells if c[2] == "http:/generate"} == {"twin-jane v1"}
        assert any(c[2] == "http:/search" for c in cells)
        assert page.get_by_test_id("live-charts").locator("svg").count() == 5
        assert page.get_by_test_id("stored-empty").is_visible()
        screenshot(page, request, "1-live")

        Lake(str(home)).upsert(PROMPT_METRICS, stored_metrics([0, 1, 2, 5]))
        page.reload()
        assert "Delta version 0" in page.get_by_test_id("stored-written").inner_text()
        assert "4 hour(s) stored" in page.get_by_test_id("stored-written").inner_text()
        assert page.get_by_test_id("stored-requests").inner_text() == str(10 + 11 + 12 + 15)
        stored_rows = page.get_by_test_id("stored-table").locator("tbody tr").all_inner_texts()
        assert len(stored_rows) == 4 and "3.25 s" in stored_rows[0] and "2026-03-01 12:00" in stored_rows[0]
        assert page.get_by_test_id("stored-charts").locator("svg").count() == 5
        screenshot(page, request, "2-stored")
        assert page.errors == []
    finally:
        page.context.close()
