"""The optional LLM path against OpenAI-compatible test servers on 127.0.0.1."""

import json

import polars as pl
import pytest

from tests.conftest import lake_resource
from tests.datasets.test_instruct import LONG, cleaned
from twin_assets.datasets.instruct import build_instruct
from twin_assets.datasets.llm import JSONChat, LLMError, LLMSettings, llm_instruction
from twin_assets.lake.tables import CLEANED_DOCUMENT_SCHEMA


def chat(server, tmp_path, **overrides) -> JSONChat:
    settings = LLMSettings(server.url, "test-model", api_key="secret", timeout_s=0.5, retries=2, backoff_s=0.01, **overrides)
    return JSONChat(settings, tmp_path / "cache.sqlite")


def test_a_valid_answer_is_used_and_cached(server_factory, tmp_path):
    server = server_factory("ok")
    client = chat(server, tmp_path)
    assert llm_instruction(client, "Some text.", "post") == "Write a post about idempotent reruns."
    assert llm_instruction(client, "Some text.", "post") == "Write a post about idempotent reruns."
    assert client.requests == 1 and len(server.bodies) == 1  # the second answer came from the cache
    request = server.bodies[0]
    assert request["auth"] == "Bearer secret" and request["body"]["model"] == "test-model"
    assert request["body"]["response_format"] == {"type": "json_object"}


def test_the_cache_survives_a_new_client(server_factory, tmp_path):
    server = server_factory("ok")
    llm_instruction(chat(server, tmp_path), "Some text.", "post")
    again = chat(server, tmp_path)
    llm_instruction(again, "Some text.", "post")
    assert again.requests == 0


@pytest.mark.parametrize("first", ["not-json", "wrong-shape", "error", "slow"])
def test_a_bad_first_answer_is_retried(server_factory, tmp_path, first):
    server = server_factory(first, "ok")
    client = chat(server, tmp_path)
    assert llm_instruction(client, "Some text.", "article") == "Write a post about idempotent reruns."
    assert client.requests == 2


@pytest.mark.parametrize(("behaviour", "reason"), [("not-json", "malformed answer"), ("slow", "Timeout"), ("error", "HTTP 503")])
def test_an_endpoint_that_never_answers_well_is_a_clear_error(server_factory, tmp_path, behaviour, reason):
    client = chat(server_factory(behaviour), tmp_path)
    with pytest.raises(LLMError, match=reason):
        llm_instruction(client, "Some text.", "post")
    assert client.requests == 3  # one try and two retries


def test_build_uses_the_llm_and_falls_back_to_templates_sample_by_sample(server_factory, tmp_path):
    frame = pl.DataFrame([cleaned("a", LONG), cleaned("b", LONG.replace("Paragraph", "Part"))], schema=CLEANED_DOCUMENT_SCHEMA)
    client = chat(server_factory("ok"), tmp_path)
    with_llm = build_instruct(frame, write_instruction=lambda extract, category: llm_instruction(client, extract, category))
    assert set(with_llm["instruction"]) == {"Write a post about idempotent reruns."}
    offline = build_instruct(frame, write_instruction=lambda extract, category: None)
    assert offline["output"].to_list() == with_llm["output"].to_list()  # the answers never change
    assert offline["sample_id"].to_list() == with_llm["sample_id"].to_list()
    assert "idempotent reruns" not in " ".join(offline["instruction"])


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("TWIN_LLM_BASE_URL", raising=False)
    assert LLMSettings.from_environment() is None
    monkeypatch.setenv("TWIN_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("TWIN_LLM_MODEL", "local")
    monkeypatch.setenv("TWIN_LLM_API_KEY", "k")
    assert LLMSettings.from_environment() == LLMSettings("http://127.0.0.1:9/v1", "local", "k")


def test_the_asset_falls_back_to_templates_when_the_endpoint_fails_and_keeps_the_key_out_of_metadata(
    server_factory, tmp_path, monkeypatch, tiny_base_model,
):
    import dagster as dg

    from twin_assets.datasets.assets import DatasetResource, instruct_dataset
    from twin_assets.features.assets import EmbeddingResource
    from twin_assets.lake import CLEANED_DOCUMENTS, INSTRUCT_DATASET
    from twin_assets.models.assets import BaseModelResource

    server = server_factory("error")
    monkeypatch.setenv("TWIN_LLM_BASE_URL", server.url)
    monkeypatch.setenv("TWIN_LLM_API_KEY", "very-secret-key")
    lake = lake_resource(tmp_path)
    lake.lake().replace(CLEANED_DOCUMENTS, pl.DataFrame([cleaned("a", LONG)], schema=CLEANED_DOCUMENT_SCHEMA))
    resources = {
        "lake": lake, "datasets": DatasetResource(), "embedding": EmbeddingResource(),
        "base": BaseModelResource(name=str(tiny_base_model)),
    }
    result = dg.materialize([instruct_dataset], resources=resources)
    metadata = result.asset_materializations_for_node("instruct_dataset")[0].metadata
    assert metadata["llm_fallbacks"].value == lake.lake().read(INSTRUCT_DATASET).height > 0
    assert "very-secret-key" not in json.dumps({k: str(v.value) for k, v in metadata.items()})
