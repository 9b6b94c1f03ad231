"""Collection through cleaning in Dagster: lineage, checks, blocking, incremental re-runs."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from tests.conftest import REPO_ROOT
from tests.test_definitions import demo_resources
from twin_assets.clean.assets import twin_dbt_models, twin_dbt_project
from twin_assets.clean.dbt_cli import dbt_executable
from twin_assets.collect.assets import raw_collection
from twin_assets.datasets.assets import DatasetResource, instruct_dataset, preference_dataset
from twin_assets.features.assets import EmbeddingResource, VectorIndexResource, document_chunks, vector_index
from twin_assets.lake import CLEANED_DOCUMENTS, DOCUMENT_CHUNKS, INSTRUCT_DATASET, PREFERENCE_DATASET, RAW_ARTICLES
from twin_assets.models.assets import BaseModelResource, TrainingResource, base_model
from twin_assets.models.axolotl import AxolotlResource
from twin_assets.models.evaluation_assets import EvaluationResource
from twin_assets.quality.assets import (
    cleaned_documents_expectations,
    instruct_dataset_expectations,
    preference_dataset_expectations,
    raw_expectations,
)

PIPELINE = [
    raw_collection, twin_dbt_models, raw_expectations, cleaned_documents_expectations, document_chunks, vector_index,
    base_model, instruct_dataset, instruct_dataset_expectations, preference_dataset, preference_dataset_expectations,
]


def pipeline_resources(tmp_path, config=REPO_ROOT / "twin.yaml") -> dict:
    return {
        **demo_resources(tmp_path, config),
        "dbt": DbtCliResource(project_dir=twin_dbt_project, dbt_executable=dbt_executable()),
        "embedding": EmbeddingResource(model="all-MiniLM-L6-v2"),
        "index": VectorIndexResource(backend="lancedb"),
        "datasets": DatasetResource(sizes={"tiny": 10}, rejected_from="base_model"),
        "base": BaseModelResource(),
        "training": TrainingResource(dataset_size="tiny", max_steps=2, micro_batch_size=2, sequence_len=256),
        "axolotl": AxolotlResource(),
        # Fast, and lenient: two training steps of the tiny model are no better than its base. The gate's
        # decisions are tested in tests/models/test_twin_model.py.
        "evaluation": EvaluationResource(max_samples=3, max_new_tokens=16, pool_words=40, perplexity_margin=-1.0,
                                         style_margin=-2.0, max_memorisation=1.0),
    }


def materialization(result: dg.ExecuteInProcessResult, key: str) -> dict:
    return next(e.materialization.metadata for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key))


def check_outcomes(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        f"{e.asset_check_key.asset_key.to_user_string()}:{e.asset_check_key.name}": e.passed
        for e in result.get_asset_check_evaluations()
    }


def test_the_graph_runs_from_raw_assets_through_staging_to_cleaned_documents():
    from twin_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("stg_articles")).parent_keys == {dg.AssetKey("raw_articles")}
    assert graph.get(dg.AssetKey("stg_repositories")).parent_keys == {dg.AssetKey("raw_repositories")}
    assert graph.get(dg.AssetKey("int_documents")).parent_keys == {
        dg.AssetKey(f"stg_{name}") for name in ("articles", "posts", "repositories")
    }
    cleaned = graph.get(dg.AssetKey("cleaned_documents"))
    assert cleaned.parent_keys == {dg.AssetKey("int_documents")} and cleaned.group_name == "clean"
    assert "delta" in cleaned.kinds
    checks = {key.name for key in graph.asset_check_keys if key.asset_key == dg.AssetKey("cleaned_documents")}
    assert {"expectations", "unique_cleaned_documents_id", "not_null_cleaned_documents_text"} <= checks
    assert graph.get(dg.AssetKey("document_chunks")).parent_keys == {dg.AssetKey("cleaned_documents")}
    assert graph.get(dg.AssetKey("vector_index")).parent_keys == {dg.AssetKey("document_chunks")}
    assert graph.get(dg.AssetKey("base_model")).parent_keys == {dg.AssetKey("cleaned_documents")}
    assert graph.get(dg.AssetKey("instruct_dataset")).parent_keys == {dg.AssetKey("cleaned_documents"), dg.AssetKey("base_model")}
    assert graph.get(dg.AssetKey("preference_dataset")).parent_keys == {
        dg.AssetKey("instruct_dataset"), dg.AssetKey("base_model"), dg.AssetKey("prompt_logs"),  # the author's edits
    }
    for table in (
        "raw_articles", "raw_posts", "raw_repositories", "crawl_errors", "cleaned_documents", "instruct_dataset",
        "preference_dataset",
    ):
        spec = graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey(table), "expectations"))
        assert spec.blocking, table


def test_the_demo_corpus_is_cleaned_with_every_check_passing_and_a_rerun_keeps_the_version(tmp_path):
    resources = pipeline_resources(tmp_path)
    result = dg.materialize(PIPELINE, resources=resources)
    assert result.success
    outcomes = check_outcomes(result)
    assert all(outcomes.values()), [name for name, passed in outcomes.items() if not passed]
    assert {"raw_articles:expectations", "cleaned_documents:expectations",
            "cleaned_documents:unique_cleaned_documents_id"} <= set(outcomes)

    lake = resources["lake"].lake()
    assert lake.read(CLEANED_DOCUMENTS).height == 45
    metadata = next(
        e.materialization.metadata for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("cleaned_documents")
    )
    assert metadata["documents_in"].value == 47 and metadata["documents_out"].value == 45
    assert metadata["dropped_by_reason"].value == {"cross_posted_duplicate": 1, "too_short": 1}
    assert metadata["dagster/row_count"].value == 45
    docs = next(e for e in result.get_asset_check_evaluations() if e.asset_key == dg.AssetKey("cleaned_documents")
                and e.check_name == "expectations").metadata["data_docs"].value
    assert docs.startswith("file://") and docs.endswith("index.html")

    index_metadata = next(
        e.materialization.metadata for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("vector_index")
    )
    chunks = lake.read(DOCUMENT_CHUNKS)
    assert index_metadata["added"].value == index_metadata["index_size"].value == chunks.height > 45
    assert index_metadata["embedding_model"].value == "all-MiniLM-L6-v2"

    card = next(
        e.materialization.metadata for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("instruct_dataset")
    )
    assert card["dagster/row_count"].value == lake.read(INSTRUCT_DATASET).height > 40
    assert card["cleaned_documents_version"].value == lake.version(CLEANED_DOCUMENTS)
    assert set(card["by_split"].value) == {"train", "test"}
    assert card["exports"].value["tiny"]["train"] + card["exports"].value["tiny"]["test"] == 10
    assert (Path(card["exports_path"].value) / "full" / "train.chat.jsonl").is_file()
    assert card["tokens"].value["tokenizer"] == "local:tiny-llama" and card["tokens"].value["output"]["max"] > 100
    assert "instruct_dataset:expectations" in outcomes

    pairs = lake.read(PREFERENCE_DATASET)
    preference_card = materialization(result, "preference_dataset")
    assert preference_card["rejected_from"].value == "local:tiny-llama"
    assert preference_card["instruct_dataset_version"].value == lake.version(INSTRUCT_DATASET)
    assert pairs.height == preference_card["dagster/row_count"].value > 10
    assert pairs.height + sum(preference_card["dropped"].value.values()) == preference_card["prose_samples"].value
    assert set(pairs["category"]) <= {"article", "post"}
    assert set(pairs["sample_id"]) <= set(lake.read(INSTRUCT_DATASET)["sample_id"])
    assert (Path(preference_card["exports_path"].value) / "full" / "train.pairs.jsonl").is_file()
    assert outcomes["preference_dataset:expectations"]
    base_card = materialization(result, "base_model")
    assert base_card["built_now"].value and base_card["parameters"].value > 100_000

    version, dataset_version = lake.version(CLEANED_DOCUMENTS), lake.version(INSTRUCT_DATASET)
    pairs_version = lake.version(PREFERENCE_DATASET)
    checkout_runs = set((REPO_ROOT / "twin_dbt" / "target").glob("twin_dbt_models-*"))
    again = dg.materialize(PIPELINE, resources=resources)
    assert again.success and lake.version(CLEANED_DOCUMENTS) == version
    # Nothing new: dbt is not run, cleaned_documents says so, and no other model is recorded again.
    assert materialization(again, "cleaned_documents")["dbt_build"].value.startswith("skipped")
    assert not {"stg_articles", "int_documents", "dropped_documents"} & {
        e.asset_key.to_user_string() for e in again.get_asset_materialization_events()
    }
    assert (tmp_path / "home" / "dbt" / "target" / "run_results.json").is_file()
    assert check_outcomes(again)["cleaned_documents:unique_cleaned_documents_id"]  # the last build's outcome, kept
    assert set((REPO_ROOT / "twin_dbt" / "target").glob("twin_dbt_models-*")) == checkout_runs
    assert lake.version(INSTRUCT_DATASET) == dataset_version  # unchanged documents: the same samples, no new version
    assert lake.version(PREFERENCE_DATASET) == pairs_version  # the same answers, from the cache
    assert not materialization(again, "base_model")["built_now"].value
    index_again = next(
        e.materialization.metadata for e in again.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("vector_index")
    )
    assert (index_again["added"].value, index_again["removed"].value) == (0, 0)  # nothing new: nothing embedded

    env = {**os.environ, "TWIN_HOME": str(tmp_path / "home")}
    found = subprocess.run(
        [str(Path(sys.executable).parent / "twin"), "search", "what happens if a pipeline runs twice?",
         "--k", "3", "--category", "post", "--json"], env=env, capture_output=True, text=True,
    )
    assert found.returncode == 0, found.stderr[-2000:]
    results = json.loads(found.stdout)["results"]
    assert set(results[0]) == {"chunk_id", "document_id", "url", "title", "category", "text", "score"}
    assert {r["category"] for r in results} == {"post"} and len(results) == 3
    assert "runs twice" in results[0]["text"]  # the demo persona's post on exactly that
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "twin"), "search", "what happens if a pipeline runs twice?", "--k", "3"],
        env=env, capture_output=True, text=True,
    )
    assert shown.returncode == 0 and "ordered for relevance and variety (MMR)" in shown.stdout
    assert "relevance 0." in shown.stdout and "Loading weights" not in shown.stderr + shown.stdout


def test_a_failed_blocking_check_keeps_downstream_assets_from_materializing(tmp_path):
    medium = tmp_path / "medium"
    shutil.copytree(REPO_ROOT / "demo/exports/medium", medium)
    post = next(medium.glob("posts/2024-10-02_*.html"))
    post.write_text(post.read_text().replace('datetime="2024-10-02T09:30:00.000Z"', 'datetime="2099-10-02T09:30:00.000Z"'))
    config = tmp_path / "twin.yaml"
    config.write_text(f"authors:\n  - {{id: mara, name: Mara, sources: [{{kind: medium_export, path: {medium}}}]}}\n")
    resources = pipeline_resources(tmp_path, config)

    result = dg.materialize(PIPELINE, resources=resources, raise_on_error=False)
    assert not result.success
    failed = next(e for e in result.get_asset_check_evaluations()
                  if e.asset_key == dg.AssetKey("raw_articles") and e.check_name == "expectations")
    assert not failed.passed
    assert "expect_column_values_to_be_between on published_at failed (1 rows)" in failed.metadata["failures"].value
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "raw_articles" in materialized and "cleaned_documents" not in materialized
    assert not any(key.startswith("stg_") for key in materialized)
    lake = resources["lake"].lake()
    assert lake.read(RAW_ARTICLES).height == 6 and not lake.exists(CLEANED_DOCUMENTS)
