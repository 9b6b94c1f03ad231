"""The retraining sensor against real materialization events in an ephemeral instance."""

import dagster as dg
import pytest

from twin_assets.automation import retrain_on_new_dataset, train_twin


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def dataset_published(instance: dg.DagsterInstance, version: int) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization("instruct_dataset", metadata={"delta_version": version}))


def model_trained_on(instance: dg.DagsterInstance, version: int) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization("twin_model", metadata={"instruct_dataset_version": version})
    )


def tick(instance: dg.DagsterInstance, cursor: str | None = None) -> tuple[object, str | None]:
    """One evaluation: what the sensor returned and the cursor it left."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return retrain_on_new_dataset(context), context.cursor


def test_a_first_dataset_version_requests_a_training_run_keyed_by_that_version(instance):
    dataset_published(instance, 3)
    request, cursor = tick(instance)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == "instruct_dataset-v3" and request.tags["twin/instruct_dataset_version"] == "3"
    assert cursor == "3"


def test_the_same_version_is_not_handed_to_training_twice(instance):
    dataset_published(instance, 3)
    _, cursor = tick(instance)
    dataset_published(instance, 3)  # a re-run whose rows did not change writes no new Delta version
    skipped, after = tick(instance, cursor)
    assert isinstance(skipped, dg.SkipReason) and skipped.skip_message == "instruct_dataset v3 already trained"
    assert after == "3"


def test_a_newer_version_requests_another_run(instance):
    dataset_published(instance, 3)
    _, cursor = tick(instance)
    dataset_published(instance, 4)
    request, after = tick(instance, cursor)
    assert isinstance(request, dg.RunRequest) and request.run_key == "instruct_dataset-v4"
    assert after == "4"


def test_a_version_twin_model_was_trained_on_is_skipped_even_with_a_fresh_cursor(instance):
    dataset_published(instance, 5)
    model_trained_on(instance, 5)
    skipped, cursor = tick(instance, cursor=None)
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message.startswith("instruct_dataset v5 already trained (the latest twin_model")
    assert cursor is None
    dataset_published(instance, 6)  # the model's record holds only for the version it names
    request, _ = tick(instance)
    assert isinstance(request, dg.RunRequest) and request.run_key == "instruct_dataset-v6"


def test_a_rebuilt_dataset_restarting_at_v0_is_new_data(instance):
    dataset_published(instance, 0)
    request, cursor = tick(instance, cursor="7")
    assert isinstance(request, dg.RunRequest) and request.run_key == "instruct_dataset-v0" and cursor == "0"


def test_nothing_is_requested_before_the_dataset_exists(instance):
    model_trained_on(instance, 2)  # a model alone does not make a dataset version
    skipped, cursor = tick(instance)
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == "no materialization of instruct_dataset with a delta_version yet"
    assert cursor is None


def test_a_materialization_without_a_delta_version_requests_nothing(instance):
    instance.report_runless_asset_event(dg.AssetMaterialization("instruct_dataset"))  # reported by hand in the UI
    skipped, _ = tick(instance)
    assert isinstance(skipped, dg.SkipReason) and "no materialization of instruct_dataset" in skipped.skip_message


def test_the_sensor_is_off_by_default_and_trains_twin_model_and_what_depends_on_it():
    @dg.asset
    def instruct_dataset(): ...

    @dg.asset(deps=[instruct_dataset])
    def twin_model(): ...

    @dg.asset(deps=[twin_model])
    def model_evaluation(): ...

    @dg.asset
    def unrelated(): ...

    defs = dg.Definitions(
        assets=[instruct_dataset, twin_model, model_evaluation, unrelated],
        jobs=[train_twin], sensors=[retrain_on_new_dataset],
    )
    sensor = defs.resolve_sensor_def("retrain_on_new_dataset")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.job_name == "train_twin"
    job = defs.resolve_job_def("train_twin")
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("twin_model"), dg.AssetKey("model_evaluation")}



def test_the_real_retraining_job_runs_training_evaluation_and_promotion_behind_a_blocking_gate():
    from twin_assets.definitions import defs

    job = defs.resolve_job_def("train_twin")
    assert job.asset_layer.executable_asset_keys == {
        dg.AssetKey("twin_model"), dg.AssetKey("model_evaluation"), dg.AssetKey("production_model")}
    checks = {spec.name: spec.blocking for spec in defs.resolve_assets_def("model_evaluation").check_specs}
    assert checks == {"promotion_gate": True}  # a failed gate stops the run before production_model
