"""Automation: retrain the twin when instruct_dataset gets a new Delta version.

Assets are named by key, not imported, so the definitions can import this module before or
after the model assets without a cycle.
"""

import dagster as dg

INSTRUCT_DATASET = dg.AssetKey("instruct_dataset")
TWIN_MODEL = dg.AssetKey("twin_model")
DATASET_VERSION = "delta_version"  # what instruct_dataset's materializations carry (datasets/assets.py)
TRAINED_ON = "instruct_dataset_version"  # what twin_model's materializations carry

train_twin = dg.define_asset_job(
    "train_twin",
    selection=dg.AssetSelection.keys(TWIN_MODEL.to_user_string()).downstream(),
    description="Fine-tune the twin on the current instruct_dataset, then everything that depends on the model.",
)


def latest_int_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, name: str) -> int | None:
    """`name` from the asset's latest materialization, or None when there is none or it lacks `name`."""
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event else None
    value = materialization.metadata.get(name) if materialization else None
    return value.value if isinstance(value, dg.IntMetadataValue) else None


def retrain_decision(dataset_version: int | None, handed_version: int | None, trained_version: int | None):
    """A RunRequest of train_twin for a dataset version neither handed to training (the cursor)
    nor recorded by twin_model, else a SkipReason saying why.

    Versions are compared for equality, not order: a dataset rebuilt from scratch restarts at
    v0, and that is new data to train on.
    """
    if dataset_version is None:
        return dg.SkipReason(f"no materialization of {INSTRUCT_DATASET.to_user_string()} with a {DATASET_VERSION} yet")
    if dataset_version == handed_version:
        return dg.SkipReason(f"{INSTRUCT_DATASET.to_user_string()} v{dataset_version} already trained")
    if dataset_version == trained_version:
        return dg.SkipReason(
            f"{INSTRUCT_DATASET.to_user_string()} v{dataset_version} already trained "
            f"(the latest {TWIN_MODEL.to_user_string()} was trained on it)"
        )
    return dg.RunRequest(
        run_key=f"{INSTRUCT_DATASET.to_user_string()}-v{dataset_version}",
        tags={"twin/instruct_dataset_version": str(dataset_version)},
    )


@dg.sensor(
    job=train_twin,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Retrains the twin on each new Delta version of instruct_dataset; off until switched on in the UI.",
)
def retrain_on_new_dataset(context: dg.SensorEvaluationContext):
    dataset_version = latest_int_metadata(context.instance, INSTRUCT_DATASET, DATASET_VERSION)
    # twin_model's own record also covers a reset cursor and runs launched by hand.
    trained_version = latest_int_metadata(context.instance, TWIN_MODEL, TRAINED_ON)
    handed_version = int(context.cursor) if context.cursor else None
    decision = retrain_decision(dataset_version, handed_version, trained_version)
    if isinstance(decision, dg.RunRequest):
        context.update_cursor(str(dataset_version))
    return decision
