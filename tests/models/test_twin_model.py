"""twin_model in Dagster: trains from the demo datasets, tracks, registers, and trains nothing twice."""

import dagster as dg
import pytest

from tests.test_pipeline import PIPELINE, materialization, pipeline_resources
from twin_assets.lake import INSTRUCT_DATASET
from twin_assets.models.assets import TrainingResource, twin_model
from twin_assets.models.registry import get_version_by_alias, list_versions

FAST_SETTINGS = dict(dataset_size="tiny", max_steps=3, micro_batch_size=2, sequence_len=256, learning_rate=1e-3)
FAST = TrainingResource(**FAST_SETTINGS)


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


AXOLOTL_SETTINGS = {**FAST_SETTINGS, "backend": "axolotl"}
AXOLOTL = TrainingResource(**AXOLOTL_SETTINGS)


def _runs_of(home, author):
    from training.tracking import mlflow_client, mlflow_experiment

    client = mlflow_client(home)
    return client.search_runs([mlflow_experiment(client, home, author)])


def test_the_axolotl_backend_trains_the_same_config_beside_the_local_version_through_pipes(built_home):
    tmp_path, resources = built_home
    home = tmp_path / "home"
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([*PIPELINE, twin_model], resources={**resources, "training": AXOLOTL}, selection="twin_model",
                            instance=instance)
    assert result.success
    card = materialization(result, "twin_model")
    assert card["backend"].value == "axolotl" and card["trained_now"].value
    folder = home / "models" / "twin" / card["version"].value
    assert {"adapter", "merged", "card.json", "loss_curve.svg"} <= {p.name for p in folder.iterdir()}
    assert (folder / "adapter" / "adapter_model.safetensors").is_file() and (folder / "merged" / "config.json").is_file()
    assert card["train_loss"].value > 0 and card["tokens_seen"].value > 0

    # What the external process reported through Pipes: its log lines and its materialization.
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any(message.startswith("sft step 1: loss") for message in logged)
    assert card["reported_axolotl_version"].value == "0.19.0" and card["reported_device"].value == "cpu"
    candidate = get_version_by_alias(home, "mara", "candidate")
    assert candidate.tags["twin_version"] == card["version"].value and candidate.tags["dagster_run_id"] == result.run_id
    assert candidate.tags["backend"] == "axolotl"

    # Axolotl's own MLflow run is a child of the asset's run, which holds the per-step losses too.
    runs = _runs_of(home, "mara")
    parent = next(r for r in runs if r.data.tags.get("twin_version") == card["version"].value)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert children and "sft/loss" in parent.data.metrics

    again = dg.materialize([*PIPELINE, twin_model], resources={**resources, "training": AXOLOTL}, selection="twin_model")
    assert again.success and not materialization(again, "twin_model")["trained_now"].value


def test_a_failing_axolotl_run_fails_the_asset_with_axolotls_error_and_registers_nothing(built_home):
    tmp_path, resources = built_home
    home = tmp_path / "home"
    before = len(list_versions(home, "mara"))
    too_short = TrainingResource(**{**AXOLOTL_SETTINGS, "sequence_len": 16})  # every sample is longer: Axolotl has nothing to train on
    result = dg.materialize([*PIPELINE, twin_model], resources={**resources, "training": too_short},
                            selection="twin_model", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    text = str(failure.message) + str(failure.cause.message if failure.cause else "")
    assert "Axolotl training of" in text and "num_samples" in text
    assert len(list_versions(home, "mara")) == before
    assert not [p for p in (home / "models" / "twin").iterdir() if p.is_dir() and not p.name.endswith(".work")
                and not (p / "card.json").is_file()]


def test_without_axolotls_environment_the_asset_says_how_to_create_it(built_home):
    from twin_assets.models.axolotl import AxolotlResource

    tmp_path, resources = built_home
    missing = {**resources, "training": TrainingResource(**{**AXOLOTL_SETTINGS, "learning_rate": 5e-4}),
               "axolotl": AxolotlResource(python=str(tmp_path / "no-env" / "bin" / "python"))}
    result = dg.materialize([*PIPELINE, twin_model], resources=missing, selection="twin_model", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert "make axolotl" in failure
