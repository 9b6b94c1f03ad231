"""Experiment tracking: flattening and secret filtering, then real MLflow and Neptune (offline) runs."""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from training.tracking import (
    backend_from_environment,
    flatten,
    mlflow_client,
    mlflow_tracking_uri,
    mlflow_ui_url,
    neptune_data_dir,
    start_run,
    step_logger,
    tracked_run,
    without_secrets,
)

CONFIG = {
    "preset": "tiny-llama", "lora": {"r": 16, "alpha": 32, "targets": ["q_proj", "v_proj"]}, "dpo": None,
    "max_new_tokens": 384, "llm": {"api_key": "sk-live-123456789", "base_url": "http://127.0.0.1:9/v1"},
}


@pytest.fixture(autouse=True)
def no_servers(monkeypatch):
    """Runs stay local: no tracking server, no Neptune project, whatever the shell has set."""
    for name in ("MLFLOW_TRACKING_URI", "NEPTUNE_PROJECT", "NEPTUNE_API_TOKEN", "TWIN_TRACKER"):
        monkeypatch.delenv(name, raising=False)


def test_a_nested_config_flattens_to_dotted_scalars():
    assert flatten(CONFIG) == {
        "preset": "tiny-llama", "lora.r": 16, "lora.alpha": 32, "lora.targets": '["q_proj", "v_proj"]', "dpo": "null",
        "max_new_tokens": 384, "llm.api_key": "sk-live-123456789", "llm.base_url": "http://127.0.0.1:9/v1",
    }


def test_secrets_are_left_out_by_name_and_by_value_but_token_counts_stay():
    environ = {"TWIN_LLM_API_KEY": "sk-env-abcdefgh", "HOME": "/root", "NEPTUNE_API_TOKEN": "short"}
    values = {
        "llm.api_key": "sk-live-123456789", "hf_token": "hf_abc", "aws.secret_access_key": "x", "db.password": "pw",
        "url": "http://user:sk-env-abcdefgh@host/", "max_new_tokens": 384, "tokens.median": 120, "pad_token": "<pad>",
        "author": "mara", "home": "/root",
    }
    assert without_secrets(values, environ) == {
        "max_new_tokens": 384, "tokens.median": 120, "pad_token": "<pad>", "author": "mara", "home": "/root",
    }


def test_the_tracker_comes_from_the_environment(monkeypatch):
    assert backend_from_environment() == "mlflow"
    monkeypatch.setenv("TWIN_TRACKER", "neptune")
    assert backend_from_environment() == "neptune"
    monkeypatch.setenv("TWIN_TRACKER", "wandb")
    with pytest.raises(ValueError, match="TWIN_TRACKER must be one of mlflow, neptune"):
        backend_from_environment()
    with pytest.raises(ValueError, match="unknown tracker 'wandb'"):
        start_run(Path("."), "mara", "run", "wandb")


def test_a_tracking_server_named_in_the_environment_replaces_the_local_store(monkeypatch, tmp_path):
    assert mlflow_tracking_uri(tmp_path) == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5055/")
    assert mlflow_tracking_uri(tmp_path) == "http://127.0.0.1:5055/"
    assert mlflow_ui_url(tmp_path, "3", "abc") == "http://127.0.0.1:5055/#/experiments/3/runs/abc"


def _log_a_training_run(run, tmp_path):
    run.log_params(CONFIG)
    run.set_tags({"dataset": {"instruct_dataset": 3}, "base_model": "tiny@abc", "api_token": "secret-value-123"})
    for step, loss in enumerate([2.0, 1.5, 1.25], start=1):
        run.log_metrics({"loss": loss, "learning_rate": 1e-3}, step=step)
    run.log_final_metrics({"eval_loss": 1.3, "perplexity": 3.67})
    (tmp_path / "plot.png").write_bytes(b"\x89PNG fake")
    run.log_artifact(tmp_path / "plot.png", "plots")
    run.log_json("card.json", {"version": "tiny-sft-abc", "eval_loss": 1.3})


def test_mlflow_keeps_params_metrics_tags_and_artifacts_in_the_sqlite_store(tmp_path):
    home = tmp_path / "home"
    with tracked_run(home, "mara", "sft tiny") as run:
        _log_a_training_run(run, tmp_path)
    assert (home / "mlflow" / "mlflow.db").is_file()
    client = mlflow_client(home)
    stored = client.get_run(run.run_id)
    assert stored.info.status == "FINISHED" and stored.info.run_name == "sft tiny"
    assert client.get_experiment(stored.info.experiment_id).name == "twin-mara"
    assert stored.data.params["lora.r"] == "16" and stored.data.params["preset"] == "tiny-llama"
    assert "llm.api_key" not in stored.data.params and "sk-live" not in json.dumps(stored.data.params)
    assert stored.data.tags["dataset.instruct_dataset"] == "3" and "api_token" not in stored.data.tags
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "loss")] == [(1, 2.0), (2, 1.5), (3, 1.25)]
    assert stored.data.metrics["final/eval_loss"] == 1.3
    artifacts = sorted(a.path for a in client.list_artifacts(run.run_id)) + [
        a.path for a in client.list_artifacts(run.run_id, "plots")
    ]
    assert artifacts == ["card.json", "plots", "plots/plot.png"]
    assert str(home / "mlflow" / "artifacts") in stored.info.artifact_uri
    assert run.url == f"http://127.0.0.1:5000/#/experiments/{stored.info.experiment_id}/runs/{run.run_id}"


def test_a_failing_block_marks_the_mlflow_run_failed_and_runs_share_the_authors_experiment(tmp_path):
    home = tmp_path / "home"
    with pytest.raises(RuntimeError, match="out of memory"):
        with tracked_run(home, "mara", "crashes") as failed:
            raise RuntimeError("out of memory")
    second = start_run(home, "mara", "second")
    second.end()
    client = mlflow_client(home)
    assert client.get_run(failed.run_id).info.status == "FAILED"
    assert client.get_run(second.run_id).info.experiment_id == client.get_run(failed.run_id).info.experiment_id


@dataclass
class Step:  # the shape of training.runtime.StepMetrics
    stage: str
    step: int
    loss: float
    tokens_seen: int


def test_trainer_steps_become_one_series_per_stage(tmp_path):
    home = tmp_path / "home"
    with tracked_run(home, "mara", "sft then dpo") as run:
        log = step_logger(run)
        for step in (Step("sft", 1, 2.0, 512), Step("sft", 2, 1.5, 1024), Step("dpo", 1, 0.69, 512)):
            log(step)
    client = mlflow_client(home)
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "sft/loss")] == [(1, 2.0), (2, 1.5)]
    assert [(m.step, m.value) for m in client.get_metric_history(run.run_id, "dpo/tokens_seen")] == [(1, 512.0)]


def test_neptune_logs_the_same_run_offline_under_twin_home(tmp_path):
    pytest.importorskip("neptune", reason="the optional `neptune` extra is not installed")
    home = tmp_path / "home"
    with tracked_run(home, "mara", "sft tiny", backend="neptune") as run:
        _log_a_training_run(run, tmp_path)
        folder = run.offline_folder()
    assert folder.parent == neptune_data_dir(home) / "offline" and run.url == folder.as_uri()
    operations = [json.loads(line)["obj"] for log in sorted(folder.glob("data-*.log")) for line in log.read_text().splitlines()]
    by_path = {"/".join(op["path"]): op for op in operations}
    assert by_path["sys/name"]["value"] == "sft tiny" and by_path["author"]["value"] == "mara"
    assert by_path["parameters/lora/r"]["value"] == 16 and "parameters/llm/api_key" not in by_path
    assert by_path["tags/dataset/instruct_dataset"]["value"] == "3"
    losses = [v for op in operations if op["path"] == ["metrics", "loss"] for v in op["values"]]
    assert [(v["step"], v["value"]) for v in losses] == [(1, 2.0), (2, 1.5), (3, 1.25)]
    assert by_path["final/eval_loss"]["value"] == 1.3
    card = by_path["artifacts/card_json"]["tmp_file_name"]  # a copy the folder keeps until `neptune sync`
    assert json.loads((folder / "upload_path" / card).read_text())["version"] == "tiny-sft-abc"
    assert "artifacts/plots/plot_png" in by_path
    assert by_path["sys/failed"]["value"] is False
    written = "".join(log.read_text() for log in folder.glob("data-*.log"))
    assert "sk-live" not in written and "secret-value" not in written


def test_loading_the_tracking_module_imports_neither_mlflow_nor_neptune():
    code = "import sys, training.tracking; print(sorted(m for m in ('mlflow', 'neptune') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
