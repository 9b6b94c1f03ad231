"""Every selection a user can make runs on a fresh TWIN_HOME.

The list of assets comes from the definitions, so an asset is covered the day it lands. Alone,
an asset either materializes or fails saying which upstream table it needs; with its upstream
(`*key`), it materializes.
"""

import dagster as dg
import pytest

from tests.test_pipeline import pipeline_resources
from twin_assets.monitoring.assets import MonitoringResource

UPSTREAM_MISSING = "has not been materialized"


def _definitions():
    from twin_assets.definitions import defs

    return defs


def _asset_keys() -> list[str]:
    graph = _definitions().resolve_asset_graph()
    return sorted(key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).is_materializable)


def _run(selection: str, tmp_path) -> dg.ExecuteInProcessResult:
    defs = _definitions()
    return dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=selection,
        resources={**pipeline_resources(tmp_path), "monitoring": MonitoringResource()},
        raise_on_error=False,
    )


def _failure_messages(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(
        str(event.step_failure_data.error) for event in result.all_events if event.is_step_failure
    )


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}


@pytest.mark.parametrize("key", _asset_keys())
def test_an_asset_alone_on_a_fresh_home_materializes_or_names_what_it_needs(key, tmp_path):
    result = _run(key, tmp_path)
    if result.success:
        assert _materialized(result) == {key}
    else:
        messages = _failure_messages(result)
        assert UPSTREAM_MISSING in messages and f"*{key}" in messages, messages[-3000:]


@pytest.mark.parametrize("key", _asset_keys())
def test_an_asset_with_its_upstream_on_a_fresh_home_materializes(key, tmp_path):
    result = _run(f"*{key}", tmp_path)
    assert result.success, _failure_messages(result)[-3000:]
    assert key in _materialized(result)
