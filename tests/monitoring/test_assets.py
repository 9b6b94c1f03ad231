"""prompt_logs and prompt_metrics materialized by Dagster over a TWIN_HOME in tmp, with their alerts."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from tests.conftest import lake_resource
from tests.monitoring.rows import log_frame, log_row
from twin_assets.lake import PROMPT_LOGS, PROMPT_METRICS
from twin_assets.monitoring.assets import MonitoringResource, prompt_logs, prompt_metrics, prompt_metrics_alerts

ASSETS = [prompt_logs, prompt_metrics, prompt_metrics_alerts]


def resources(tmp_path, **monitoring) -> dict:
    return {"lake": lake_resource(tmp_path), "monitoring": MonitoringResource(**monitoring)}


def metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    return {name: value.value for name, value in result.asset_materializations_for_node(key)[0].metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_fresh_home_gets_empty_tables_and_quiet_alerts(tmp_path):
    result = dg.materialize(ASSETS, resources=resources(tmp_path))
    assert result.success
    assert metadata(result, "prompt_logs")["dagster/row_count"] == 0
    assert metadata(result, "prompt_metrics")["dagster/row_count"] == 0
    assert all(e.passed for e in checks(result).values()) and len(checks(result)) == 4
    lake = resources(tmp_path)["lake"].lake()
    assert lake.exists(PROMPT_LOGS) and lake.exists(PROMPT_METRICS)


def test_prompt_metrics_alone_names_what_it_needs(tmp_path):
    result = dg.materialize([prompt_metrics], resources=resources(tmp_path), raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "*prompt_metrics" in str(failure.step_failure_data.error)


def test_retention_metrics_and_alerts_over_recent_traffic(tmp_path, monkeypatch):
    now = datetime.now(timezone.utc)
    recent = now - timedelta(minutes=1)
    rows = [
        *[log_row(started_at=recent, latency_s=2.0 + i, time_to_first_token_s=0.5, output_tokens=20,
                  retrieval_latency_s=0.1, retrieved_chunk_ids=["c"], retrieval_scores=[0.6]) for i in range(8)],
        *[log_row(started_at=recent, latency_s=0.1, error="LinkError", answer=None) for _ in range(2)],
        log_row(started_at=recent, endpoint="http:/search", operation="search", model_version="", answer=None,
                latency_s=0.05, retrieved_chunk_ids=["a"], retrieval_scores=[0.05]),
        log_row(started_at=now - timedelta(days=40), prompt="an old request"),  # past the 30 days kept
    ]
    home = resources(tmp_path)
    lake = home["lake"].lake()
    lake.upsert(PROMPT_LOGS, log_frame(*rows))
    monkeypatch.setenv("TWIN_PROMPT_RETENTION_DAYS", "30")

    result = dg.materialize(ASSETS, resources=home)
    assert result.success  # the alerts warn; they never fail the run
    logs = metadata(result, "prompt_logs")
    assert (logs["dagster/row_count"], logs["deleted_by_retention"], logs["retention_days"]) == (11, 1, 30.0)
    assert logs["requests_per_endpoint"] == {"http:/generate": 10, "http:/search": 1}
    assert "Write a post about reruns." in logs["recent_requests"] and "an old request" not in logs["recent_requests"]

    metrics = metadata(result, "prompt_metrics")
    assert (metrics["dagster/row_count"], metrics["inserted"]) == (2, 2)
    assert "twin-jane v3" in metrics["latest_hours"] and "data:image/png;base64," in metrics["charts"]

    alerts = checks(result)
    assert {name: e.passed for name, e in alerts.items()} == {
        "error_rate": False, "p95_latency": True, "p95_time_to_first_token": True, "retrieval_score": False,
    }
    errors = alerts["error_rate"]
    assert errors.severity == dg.AssetCheckSeverity.WARN
    assert errors.description.startswith("error_rate 0.2 > 0.05 in the hour of ")
    assert "for twin-jane v3 at http:/generate" in errors.description
    assert errors.metadata["crossings"].value == 1 and errors.metadata["bound"].value == 0.05
    assert "for none at http:/search" in alerts["retrieval_score"].metadata["worst"].value

    again = dg.materialize(ASSETS, resources=home)
    assert metadata(again, "prompt_metrics")["inserted"] == 0 and metadata(again, "prompt_metrics")["updated"] == 0


def test_bounds_come_from_the_resource(tmp_path):
    home = resources(tmp_path, max_error_rate=0.5, min_retrieval_score=0.0)
    recent = datetime.now(timezone.utc) - timedelta(minutes=1)
    home["lake"].lake().upsert(PROMPT_LOGS, log_frame(
        log_row(started_at=recent, latency_s=40.0), log_row(started_at=recent, error="Timeout", latency_s=1.0),
    ))
    alerts = checks(dg.materialize(ASSETS, resources=home))
    assert alerts["error_rate"].passed  # 0.5 is not above 0.5
    assert not alerts["p95_latency"].passed and "latency_p95_s 40 > 30" in alerts["p95_latency"].description


@pytest.mark.parametrize(
    ("value", "message"),
    [("thirty", "TWIN_PROMPT_RETENTION_DAYS must be a number of days"), ("-1", "a positive number of days")],
)
def test_a_bad_retention_setting_fails_saying_why(tmp_path, monkeypatch, value, message):
    monkeypatch.setenv("TWIN_PROMPT_RETENTION_DAYS", value)
    result = dg.materialize([prompt_logs], resources=resources(tmp_path), raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert message in str(failure.step_failure_data.error)
