import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from bento.prompt_log import PromptLogWriter, PromptRecord, new_trace_id
from tests.conftest import REPO_ROOT, lake_resource
from twin_assets.collect.assets import CrawlerResource, raw_collection
from twin_assets.lake import CRAWL_ERRORS, PROMPT_LOGS, RAW_ARTICLES, RAW_POSTS, RAW_REPOSITORIES
from twin_assets.resources import TwinConfigResource

HEAVY = (
    "torch", "transformers", "sentence_transformers", "peft", "trl", "mlflow", "neptune", "bentoml", "great_expectations",
    "lancedb", "weaviate", "matplotlib",
)
BIN = Path(sys.executable).parent


def demo_resources(tmp_path: Path, config: Path = REPO_ROOT / "twin.yaml") -> dict:
    return {
        "lake": lake_resource(tmp_path),
        "crawler": CrawlerResource(),
        "twin_config": TwinConfigResource(path=str(config)),
    }


def test_loading_definitions_imports_no_heavy_library():
    code = f"import sys, twin_assets.definitions; print([m for m in {HEAVY!r} + ('newspaper',) if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dagster_validates_the_code_location(tmp_path):
    env = {**os.environ, "TWIN_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-m", "twin_assets.definitions"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_asset_keys_groups_and_schedule():
    from twin_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw_articles", "raw_posts", "raw_repositories", "crawl_errors"} <= keys
    assert graph.get(dg.AssetKey("raw_posts")).group_name == "collect"
    schedule = defs.resolve_schedule_def("daily_collection")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_demo_corpus_materializes_and_a_rerun_writes_nothing(tmp_path):
    resources = demo_resources(tmp_path)
    result = dg.materialize([raw_collection], resources=resources)
    assert result.success
    lake = resources["lake"].lake()
    counts = {spec.name: lake.read(spec).height for spec in (RAW_ARTICLES, RAW_POSTS, RAW_REPOSITORIES, CRAWL_ERRORS)}
    assert counts == {"raw_articles": 23, "raw_posts": 14, "raw_repositories": 10, "crawl_errors": 0}
    metadata = result.asset_materializations_for_node("raw_collection")[0].metadata
    assert metadata["dagster/row_count"].value == 23 and metadata["inserted"].value == 23
    articles = lake.read(RAW_ARTICLES)
    assert set(articles["platform"]) == {"web", "medium", "substack", "linkedin"}

    versions = {spec.name: lake.version(spec) for spec in (RAW_ARTICLES, RAW_POSTS, RAW_REPOSITORIES)}
    again = dg.materialize([raw_collection], resources=resources)
    assert {spec.name: lake.version(spec) for spec in (RAW_ARTICLES, RAW_POSTS, RAW_REPOSITORIES)} == versions
    assert again.asset_materializations_for_node("raw_collection")[0].metadata["unchanged"].value == 23


def two_author_config(tmp_path: Path) -> Path:
    """mara with the LinkedIn export (posts and articles), other with the Medium export."""
    config = tmp_path / "twin.yaml"
    config.write_text(
        "authors:\n"
        "  - {id: mara, name: Mara, sources: [{kind: linkedin_export, path: %s}]}\n"
        "  - {id: other, name: Other, sources: [{kind: medium_export, path: %s}]}\n"
        % (REPO_ROOT / "demo/exports/linkedin", REPO_ROOT / "demo/exports/medium")
    )
    return config


def test_collecting_one_author_on_demand(tmp_path):
    config = two_author_config(tmp_path)
    resources = demo_resources(tmp_path, config)
    run_config = dg.RunConfig(ops={"raw_collection": {"config": {"authors": ["other"]}}})
    assert dg.materialize([raw_collection], resources=resources, run_config=run_config).success
    lake = resources["lake"].lake()
    assert lake.read(RAW_POSTS).is_empty()
    assert set(lake.read(RAW_ARTICLES)["author_id"]) == {"other"}


def test_twin_collect_command(tmp_path):
    env = {**os.environ, "TWIN_HOME": str(tmp_path / "home"), "TWIN_CONFIG": str(REPO_ROOT / "twin.yaml")}
    env.pop("DAGSTER_HOME", None)
    out = subprocess.run([str(BIN / "twin"), "collect", "--author", "mara"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "raw_posts          rows=14" in out.stdout
    # With only TWIN_HOME set, the run lands in the instance under it, the one the UI shows.
    os.environ["DAGSTER_HOME"] = str(tmp_path / "home" / "dagster")
    try:
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs()
        assert [run.job_name for run in runs] == ["collect"] and runs[0].is_success
    finally:
        del os.environ["DAGSTER_HOME"]
    assert not (tmp_path / "home" / "dagster" / "dagster.yaml").read_text().count("DAGSTER_COMPUTE_LOG_DIR")
    bad = subprocess.run([str(BIN / "twin"), "collect", "--author", "nobody"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown author 'nobody'" in bad.stderr


def test_twin_forget_removes_one_authors_rows_and_keeps_the_others(tmp_path):
    config = two_author_config(tmp_path)
    resources = demo_resources(tmp_path, config)
    assert dg.materialize([raw_collection], resources=resources).success
    lake = resources["lake"].lake()
    others = lake.read(RAW_ARTICLES).filter(lake.read(RAW_ARTICLES)["author_id"] == "other").height
    with PromptLogWriter(lake) as logs:  # what each author asked their twin
        for author in ("mara", "other"):
            logs.record(PromptRecord(trace_id=new_trace_id(), endpoint="http:/generate", operation="text_completion",
                                     prompt=f"a draft for {author}", author_id=author))
    env = {**os.environ, "TWIN_HOME": str(tmp_path / "home"), "TWIN_CONFIG": str(config)}
    out = subprocess.run([str(BIN / "twin"), "forget", "--author", "mara"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "raw_posts          removed=14" in out.stdout and "still in" in out.stdout
    assert lake.read(RAW_POSTS).is_empty()
    assert set(lake.read(RAW_ARTICLES)["author_id"]) == {"other"} and lake.read(RAW_ARTICLES).height == others
    assert "prompt_logs        removed=1" in out.stdout and lake.read(PROMPT_LOGS)["author_id"].to_list() == ["other"]
    again = subprocess.run([str(BIN / "twin"), "forget", "--author", "mara"], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "the lake holds nothing by 'mara'" in again.stdout
