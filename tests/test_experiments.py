"""Comparing training runs: rows and table from synthetic runs, then a real MLflow store and `twin experiments`."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import REPO_ROOT
from training.config import TrainingConfig
from training.tracking import flatten, mlflow_client, mlflow_experiment
from twin_assets.models.experiments import (
    comparison_rows,
    experiment_rows,
    read_runs,
    render_table,
    table_columns,
)
from twin_assets.models.registry import Lineage, register_version

BIN = Path(sys.executable).parent
HOUR_MS = 3_600_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z


def synthetic_run(run_id, name, start, params=None, metrics=None, tags=None, status="FINISHED"):
    """What MlflowClient.search_runs returns, reduced to the fields a comparison reads."""
    return SimpleNamespace(
        info=SimpleNamespace(run_id=run_id, run_name=name, start_time=start, status=status),
        data=SimpleNamespace(params=params or {}, metrics=metrics or {}, tags=tags or {}),
    )


def params_of(config: TrainingConfig) -> dict[str, str]:
    """Parameters as MLflow stores them: the flattened config, every value as text."""
    return {name: str(value) for name, value in flatten(config.to_dict()).items()}


def test_a_row_holds_lineage_hyperparameters_results_and_registry_newest_first():
    older = synthetic_run(
        "r1", "sft tiny", START_MS, params_of(TrainingConfig(lora_r=8, max_steps=30)),
        {"final/train_loss": 2.5, "final/eval_loss": 2.75, "tokens_per_second": 60.0, "seconds": 31.5, "loss": 2.0},
        {"dataset.instruct_dataset": "3", "base_model": "tiny-llama@abc"},
    )
    newer = synthetic_run(
        "r2", "sft smollm2", START_MS + HOUR_MS, params_of(TrainingConfig(base_model="smollm2-135m-instruct")),
        {"train_loss": 1.5, "eval_loss": 1.25, "final/perplexity": 3.5, "eval/style_distance": 0.25},
        {"dataset.instruct_dataset": "4"},
    )
    rows = comparison_rows([older, newer], {"r2": (2, ["production", "candidate"])})
    assert [row["run_id"] for row in rows] == ["r2", "r1"]
    assert rows[0] == {
        "run_id": "r2", "run_name": "sft smollm2", "started": "2026-01-01T01:00Z", "status": "FINISHED",
        "base_model": "smollm2-135m-instruct", "dataset_version": 4, "dataset_size": "full",
        "adapter": "lora", "lora_r": 16, "learning_rate": 0.0002, "num_epochs": 3.0, "max_steps": None,
        "train_loss": 1.5, "eval_loss": 1.25, "tokens_per_second": None, "seconds": None,
        "registry_version": 2, "aliases": ["candidate", "production"],
        "perplexity": 3.5, "eval/style_distance": 0.25,
    }
    # final/ and plain names fill the same column; a per-step series (`loss`) gets none.
    assert (rows[1]["train_loss"], rows[1]["eval_loss"], rows[1]["tokens_per_second"]) == (2.5, 2.75, 60.0)
    assert rows[1]["max_steps"] == 30 and rows[1]["registry_version"] is None and "loss" not in rows[1]
    assert "perplexity" not in rows[1]  # a score logged on one run only


def test_columns_leave_out_what_no_run_has_and_list_later_results_after_the_known_ones():
    rows = comparison_rows([
        synthetic_run("r1", "a", START_MS, {"lora_r": "8"}, {"final/eval/judge_style": 2.1, "train_loss": 2.0}),
        synthetic_run("r2", "b", START_MS + 1, {"lora_r": "16"}, {"final/perplexity": 4.0}),
    ])
    assert table_columns(rows) == ["run_name", "started", "status", "lora_r", "train_loss", "eval/judge_style", "perplexity"]


def test_the_table_is_fixed_width_with_short_headers_and_numbers_aligned_right():
    rows = [
        {"run_name": "sft smollm2", "learning_rate": 0.0002, "tokens_per_second": 20512.4, "aliases": ["candidate"]},
        {"run_name": "sft", "learning_rate": 3e-4, "tokens_per_second": None, "aliases": []},
    ]
    table = render_table(rows, ["run_name", "learning_rate", "tokens_per_second", "aliases"])
    assert table.splitlines() == [
        "run              lr  tokens/s  aliases",
        "sft smollm2  0.0002    20,512  candidate",
        "sft          0.0003         -  -",
    ]


def test_a_run_that_failed_before_logging_results_still_gets_a_row():
    rows = comparison_rows([synthetic_run("r1", "crashed", None, status="FAILED")])
    assert rows[0]["status"] == "FAILED" and rows[0]["started"] is None and rows[0]["train_loss"] is None
    assert render_table(rows, table_columns(rows)).splitlines()[1].split() == ["crashed", "FAILED"]


def seed_training_run(home: Path, author: str, name: str, start_ms: int, config: TrainingConfig, dataset_version: int,
                      metrics: dict[str, float]) -> str:
    """A finished run logged the way training logs one: the flattened config, lineage tags, a loss
    series and final metrics."""
    from mlflow.entities import Metric, Param, RunTag

    client = mlflow_client(home)
    run_id = client.create_run(mlflow_experiment(client, home, author), start_time=start_ms, run_name=name).info.run_id
    client.log_batch(
        run_id,
        params=[Param(key, str(value)) for key, value in flatten(config.to_dict()).items()],
        tags=[RunTag("dataset.instruct_dataset", str(dataset_version))],
        metrics=[Metric("loss", 3.0 - step, start_ms, step) for step in (1, 2)]
        + [Metric(key, value, start_ms, 0) for key, value in metrics.items()],
    )
    client.set_terminated(run_id, "FINISHED")
    return run_id


def registered(home: Path, author: str, run_id: str, tmp: Path) -> None:
    folder = tmp / "trained"
    for part in ("adapter", "merged"):
        (folder / part).mkdir(parents=True)
    (folder / "card.json").write_text("{}")
    lineage = Lineage(twin_version="tiny-sft-bbb", base_model="tiny@abc", config_hash="c0", dataset_versions={"instruct_dataset": 4})
    register_version(home, author, folder, lineage, run_id=run_id)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """TWIN_HOME with two of mara's training runs, the newer one registered as the candidate."""
    tmp = tmp_path_factory.mktemp("experiments")
    home = tmp / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the store under TWIN_HOME, whatever the shell set
        seed_training_run(home, "mara", "sft r8", START_MS, TrainingConfig(lora_r=8, num_epochs=2), 3,
                          {"train_loss": 2.25, "eval_loss": 2.5, "tokens_per_second": 61.5})
        newer = seed_training_run(
            home, "mara", "sft r16", START_MS + HOUR_MS, TrainingConfig(lora_r=16, max_steps=40), 4,
            {"train_loss": 1.75, "eval_loss": 2.125, "tokens_per_second": 58.0, "final/perplexity": 8.25},
        )
        registered(home, "mara", newer, tmp)
        config = tmp / "twin.yaml"
        config.write_text("authors:\n  - {id: mara, name: Mara}\n")
        yield SimpleNamespace(home=home, config=config)


def test_a_real_store_lists_both_runs_side_by_side_newest_first(store):
    rows = experiment_rows(store.home, "mara")
    assert [row["run_name"] for row in rows] == ["sft r16", "sft r8"]
    assert [(row["lora_r"], row["num_epochs"], row["max_steps"]) for row in rows] == [(16, 3.0, 40), (8, 2.0, None)]
    assert [(row["train_loss"], row["eval_loss"], row["dataset_version"]) for row in rows] == [(1.75, 2.125, 4), (2.25, 2.5, 3)]
    assert [(row["registry_version"], row["aliases"]) for row in rows] == [(1, ["candidate"]), (None, [])]
    assert rows[0]["perplexity"] == 8.25 and "loss" not in rows[0]
    lines = render_table(rows, table_columns(rows)).splitlines()
    assert lines[0].split()[:2] == ["run", "started"] and "perplexity" in lines[0] and "registry" in lines[0]
    assert lines[1].startswith("sft r16 ") and lines[2].startswith("sft r8 ")


def test_an_author_without_an_experiment_has_no_runs(store):
    assert read_runs(store.home, "jane") == [] and experiment_rows(store.home, "jane") == []


def test_reading_a_home_without_a_store_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert experiment_rows(tmp_path / "home", "mara") == []
    assert not (tmp_path / "home").exists()


def twin(*args: str, home: Path, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TWIN_HOME": str(home), "TWIN_CONFIG": str(config)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([str(BIN / "twin"), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True)


def test_twin_experiments_prints_the_only_authors_runs_and_where_the_ui_is(store):
    out = twin("experiments", home=store.home, config=store.config)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "training runs of twin-mara, newest first (times in UTC)"
    table = lines[2:5]
    assert table[0].startswith("run ") and table[1].startswith("sft r16 ") and table[2].startswith("sft r8 ")
    assert "candidate" in table[1] and "1.75" in table[1] and "2.25" in table[2]
    assert lines[-1] == "open the MLflow UI with `make experiments`"


def test_twin_experiments_json_names_the_author_and_the_runs(store):
    out = twin("experiments", "--author", "mara", "--json", home=store.home, config=store.config)
    assert out.returncode == 0, out.stderr[-2000:]
    printed = json.loads(out.stdout)
    assert printed["author"] == "mara" and printed["experiment"] == "twin-mara"
    assert [run["run_name"] for run in printed["runs"]] == ["sft r16", "sft r8"]
    assert printed["runs"][0]["registry_version"] == 1 and printed["runs"][1]["lora_r"] == 8


def test_twin_experiments_without_runs_says_so_and_exits_2(tmp_path):
    config = tmp_path / "twin.yaml"
    config.write_text("authors:\n  - {id: mara, name: Mara}\n")
    out = twin("experiments", home=tmp_path / "home", config=config)
    assert out.returncode == 2 and out.stdout == ""
    assert "no training runs for 'mara' yet (experiment twin-mara)" in out.stderr


def test_twin_experiments_asks_which_author_when_twin_yaml_has_several(tmp_path):
    config = tmp_path / "twin.yaml"
    config.write_text("authors:\n  - {id: mara, name: Mara}\n  - {id: jane, name: Jane}\n")
    out = twin("experiments", home=tmp_path / "home", config=config)
    assert out.returncode == 2
    assert "names several authors (mara, jane): choose one with --author" in out.stderr


def test_importing_the_comparison_and_the_automation_imports_no_mlflow():
    code = "import sys, twin_assets.models.experiments, twin_assets.automation; print('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
