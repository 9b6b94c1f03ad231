"""twin_model in Dagster: trains from the demo datasets, tracks, registers, and trains nothing twice."""

import dagster as dg
import pytest

from tests.test_pipeline import PIPELINE, materialization, pipeline_resources
from twin_assets.lake import INSTRUCT_DATASET
from twin_assets.models.assets import TrainingResource, twin_model
from twin_assets.models.registry import get_version_by_alias, list_versions

FAST = TrainingResource(dataset_size="tiny", max_steps=3, micro_batch_size=2, sequence_len=256, learning_rate=1e-3)


@pytest.fixture(scope="module")
def built_home(tmp_path_factory):
    """The demo corpus through the datasets, once for the tests below."""
    tmp_path = tmp_path_factory.mktemp("twin")
    resources = pipeline_resources(tmp_path)
    assert dg.materialize(PIPELINE, resources=resources).success
    return tmp_path, resources


def test_twin_model_trains_tracks_registers_and_a_rerun_trains_nothing(built_home):
    tmp_path, resources = built_home
    resources = {**resources, "training": FAST}
    result = dg.materialize([*PIPELINE, twin_model], resources=resources, selection="twin_model")
    assert result.success
    card = materialization(result, "twin_model")
    assert card["trained_now"].value and card["author"].value == "mara"
    assert card["instruct_dataset_version"].value == resources["lake"].lake().version(INSTRUCT_DATASET)
    assert card["train_loss"].value > 0 and card["tokens_seen"].value > 0 and card["device"].value == "cpu"
    assert card["loss_curve"].value.startswith("![loss curve](data:image/svg+xml;base64,")
    assert card["mlflow_run"].value.startswith("http://127.0.0.1:5000/#/experiments/")
    home = tmp_path / "home"
    folder = home / "models" / "twin" / card["version"].value
    assert {"adapter", "merged", "card.json", "loss_curve.svg"} <= {p.name for p in folder.iterdir()}

    candidate = get_version_by_alias(home, "mara", "candidate")
    assert candidate is not None and (candidate.path / "card.json").is_file()
    assert candidate.tags["twin_version"] == card["version"].value
    assert candidate.tags["dataset.instruct_dataset"] == str(card["instruct_dataset_version"].value)
    assert candidate.tags["dagster_run_id"] == result.run_id and candidate.tags["config_hash"]

    again = dg.materialize([*PIPELINE, twin_model], resources=resources, selection="twin_model")
    assert again.success and not materialization(again, "twin_model")["trained_now"].value
    assert len(list_versions(home, "mara")) == 1  # the same inputs are never trained or registered twice


def test_bad_training_settings_fail_before_training_and_register_nothing(built_home):
    tmp_path, resources = built_home
    before = len(list_versions(tmp_path / "home", "mara"))
    bad = {**resources, "training": TrainingResource(dataset_size="huge")}
    result = dg.materialize([*PIPELINE, twin_model], resources=bad, selection="twin_model", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert "invalid training settings" in failure and "dataset_size" in failure
    assert len(list_versions(tmp_path / "home", "mara")) == before
