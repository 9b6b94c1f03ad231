"""Fine-tuning with Axolotl: runs in Axolotl's own environment, launched by the twin_model asset
through Dagster Pipes (a subprocess here, a pod on a cluster), or alone:

    .venv-axolotl/bin/python -m training.axolotl_run <request.json>   # AxolotlRequest.to_dict() as JSON

The request names the training config, the base model, the dataset exports, the version and
where models go. Each stage (SFT, then DPO when configured) is rendered to Axolotl YAML by
training/axolotl.py and run with `axolotl.cli.train`; a stage killed mid-run resumes from its
last checkpoint when the request is run again. The trained adapter then goes through the local
trainer's export (training/run.py: adapter/, merged/, card.json, one rename at the end), so
registration, evaluation and serving cannot tell which backend trained.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.axolotl import render_stage, to_yaml
from training.config import TrainingConfig
from training.data import DatasetRef, load_split
from training.run import (
    ADAPTER,
    STAGE_RESULT,
    TWINS,
    BaseModelRef,
    TrainedTwin,
    build_card,
    dataset_entry,
    finish_version,
    read_twin,
    stage_summary,
)
from training.runtime import TRAINER_STATE, Runtime, detect_runtime, last_complete_checkpoint, load_training_tokenizer

AXOLOTL_BACKEND = "axolotl"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
_STEP_LOG = re.compile(r"\{'loss': .*?\}")
_TRAIN_RUNTIME = re.compile(r"'train_runtime': '?([0-9.]+)")
_ERROR_LINE = re.compile(r"^[\w.]*(Error|Exception|Exit)\b.*")

Log = Callable[[str], None]


class AxolotlFailed(RuntimeError):
    """Axolotl exited with an error; the message carries Axolotl's own."""


def failure_file(models_dir: Path, version: str) -> Path:
    """Where a failed run leaves its error for the launcher, which sees only the exit code."""
    return Path(models_dir) / TWINS / f"{version}.failed"


@dataclass(frozen=True)
class AxolotlRequest:
    config: TrainingConfig
    base: BaseModelRef
    instruct: DatasetRef
    preference: DatasetRef | None
    models_dir: Path
    version: str
    # MLflow for Axolotl's own runs: tracking_uri, experiment_name, and parent_run_id to nest them under
    tracking: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        def dataset(ref: DatasetRef | None) -> dict[str, Any] | None:
            return None if ref is None else {"name": ref.name, "version": ref.version, "folder": str(ref.folder)}

        return {
            "config": self.config.to_dict(), "base": {"location": str(self.base.location), "identity": self.base.identity},
            "instruct": dataset(self.instruct), "preference": dataset(self.preference),
            "models_dir": str(self.models_dir), "version": self.version, "tracking": self.tracking,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AxolotlRequest:
        def dataset(entry: dict[str, Any] | None) -> DatasetRef | None:
            return None if entry is None else DatasetRef(entry["name"], entry["version"], Path(entry["folder"]))

        return cls(
            config=TrainingConfig(**data["config"]), base=BaseModelRef(**data["base"]),
            instruct=dataset(data["instruct"]), preference=dataset(data["preference"]),
            models_dir=Path(data["models_dir"]), version=data["version"], tracking=data.get("tracking"),
        )

    def relocated(self, home: Path, mount: Path) -> AxolotlRequest:
        """The same request for a machine that sees `home` at `mount` (a pod with TWIN_HOME's volume).
        Paths outside `home`, and Hugging Face ids, stay as they are."""
        prefix = str(home).rstrip("/")

        def move(value: str) -> str:
            for start in ("", "sqlite:///"):
                if value == start + prefix or value.startswith(start + prefix + "/"):
                    return start + str(mount) + value[len(start + prefix):]
            return value

        data = self.to_dict()
        data["base"]["location"] = move(data["base"]["location"])
        data["models_dir"] = move(data["models_dir"])
        for name in ("instruct", "preference"):
            if data[name]:
                data[name]["folder"] = move(data[name]["folder"])
        if data["tracking"]:
            data["tracking"] = {key: move(value) for key, value in data["tracking"].items()}
        return AxolotlRequest.from_dict(data)


def step_losses(line: str) -> dict[str, float] | None:
    """The metrics of a training step in a line Axolotl prints (`{'loss': '6.31', ...}`), or None."""
    found = _STEP_LOG.search(line)
    if not found:
        return None
    try:
        logged = ast.literal_eval(found.group(0))
    except (ValueError, SyntaxError):
        return None
    numbers = {}
    for key, value in logged.items():
        try:
            numbers[key] = float(value)
        except (TypeError, ValueError):
            continue
    return numbers


def axolotl_error(tail: list[str]) -> str:
    """Axolotl's own error from the end of its output: the last exception line, else the last line."""
    lines = [line.strip() for line in tail if line.strip()]
    errors = [line for line in lines if _ERROR_LINE.match(line)]
    return errors[-1] if errors else (lines[-1] if lines else "no output")


def run_axolotl(command: list[str], log_file: Path, log: Log, stage: str, env: dict[str, str]) -> float | None:
    """Runs one Axolotl command, its output to `log_file`, each step's loss to `log`; returns the
    trainer's own runtime in seconds (None when it printed none). AxolotlFailed on a non-zero exit."""
    tail: deque[str] = deque(maxlen=60)
    train_runtime = None
    step = 0
    with log_file.open("a", encoding="utf-8") as out, subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1,
    ) as process:
        for raw in process.stdout:
            out.write(raw)
            for line in raw.split("\r"):  # progress bars rewrite one line with carriage returns
                tail.append(line)
                if (metrics := step_losses(line)) and "loss" in metrics:
                    step += 1
                    log(f"{stage} step {step}: loss {metrics['loss']:.4f}")
                elif runtime := _TRAIN_RUNTIME.search(line):
                    train_runtime = float(runtime.group(1))
        code = process.wait()
    if code != 0:
        raise AxolotlFailed(f"axolotl {stage} failed (exit {code}): {axolotl_error(list(tail))}; full log: {log_file}")
    return train_runtime


def axolotl_env() -> dict[str, str]:
    env = {**os.environ, "AXOLOTL_DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1"}
    # Axolotl's CLI and the scripts it starts are found beside this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run_stage(
    request: AxolotlRequest, stage: str, dataset: DatasetRef, stage_dir: Path, chat_template: str, runtime: Runtime,
    evaluates: bool, log: Log, sft_adapter: Path | None = None,
) -> dict[str, Any]:
    done = stage_dir / STAGE_RESULT
    if done.is_file():
        return json.loads(done.read_text())
    output_dir = stage_dir / "axolotl"
    output_dir.mkdir(parents=True, exist_ok=True)
    tracking, env = None, axolotl_env()
    if request.tracking:
        keys = {key: value for key, value in request.tracking.items() if key != "parent_run_id"}
        tracking = {**keys, "run_name": f"{request.version} {stage} (axolotl)"}
        if parent := request.tracking.get("parent_run_id"):
            env["MLFLOW_TAGS"] = json.dumps({"mlflow.parentRunId": parent})  # read by transformers' MLflow callback
    rendered = render_stage(
        request.config, stage, base_model=str(request.base.location), chat_template_jinja=chat_template,
        dataset=dataset, output_dir=output_dir, device=runtime.device, precision=runtime.precision,
        evaluates=evaluates, sft_adapter=sft_adapter, tracking=tracking,
    )
    config_file = stage_dir / "axolotl.yml"
    config_file.write_text(to_yaml(rendered))
    resumed_from = last_complete_checkpoint(output_dir)
    resumed_state = _trainer_state(resumed_from) if resumed_from else {}
    log(f"{stage}: axolotl train {config_file}" + (f", resuming from {resumed_from.name}" if resumed_from else ""))
    started = time.perf_counter()
    train_runtime = run_axolotl([sys.executable, "-m", "axolotl.cli.train", str(config_file)],
                                stage_dir / "axolotl.log", log, stage, env)
    seconds = train_runtime or (time.perf_counter() - started)

    final = last_complete_checkpoint(output_dir)
    if final is None or not all((output_dir / name).is_file() for name in ADAPTER_FILES):
        raise AxolotlFailed(f"axolotl {stage} finished without an adapter and a checkpoint in {output_dir}")
    state = _trainer_state(final)
    history = state.get("log_history", [])
    evaluations = [entry["eval_loss"] for entry in history if "eval_loss" in entry]
    tokens = int(state.get("num_input_tokens_seen") or 0)
    session_tokens = tokens - int(resumed_state.get("num_input_tokens_seen") or 0)
    result = stage_summary(
        history, evaluations[-1] if evaluations else None, tokens_seen=tokens, session_tokens=session_tokens,
        session_seconds=seconds, resumed_from_step=int(resumed_state.get("global_step") or 0),
    )
    adapter = stage_dir / ADAPTER
    adapter.mkdir(exist_ok=True)
    for name in ADAPTER_FILES:
        shutil.copy2(output_dir / name, adapter / name)
    partial = done.with_suffix(".partial")
    partial.write_text(json.dumps(result))
    os.replace(partial, done)
    return result


def _trainer_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / TRAINER_STATE).read_text())


def train_with_axolotl(request: AxolotlRequest, log: Log = print) -> TrainedTwin:
    """Trains (or resumes, or finds) the requested version with Axolotl."""
    config = request.config
    if existing := read_twin(request.models_dir, request.version):
        return existing
    if config.dpo and request.preference is None:
        raise ValueError("dpo: the config enables DPO but no preference dataset was given")
    started = time.perf_counter()
    runtime = detect_runtime(config)
    size = config.dataset_size
    sft_train = load_split(request.instruct, size, "train", required=True)
    sft_test = load_split(request.instruct, size, "test", required=False)
    tokenizer = load_training_tokenizer(request.base.location, config.chat_template)
    work = request.models_dir / TWINS / f"{request.version}.work"
    stages = {"sft": _run_stage(request, "sft", request.instruct, work / "sft", tokenizer.chat_template, runtime,
                                bool(sft_test), log)}
    datasets = {request.instruct.name: dataset_entry(request.instruct, config, sft_train, sft_test)}
    adapter = work / "sft" / ADAPTER
    if config.dpo:
        dpo_train = load_split(request.preference, size, "train", required=True)
        dpo_test = load_split(request.preference, size, "test", required=False)
        stages["dpo"] = _run_stage(request, "dpo", request.preference, work / "dpo", tokenizer.chat_template, runtime,
                                   bool(dpo_test), log, sft_adapter=adapter)
        datasets[request.preference.name] = dataset_entry(request.preference, config, dpo_train, dpo_test)
        adapter = work / "dpo" / ADAPTER
    card = build_card(request.version, config, request.base, datasets, stages, runtime,
                      time.perf_counter() - started, backend=AXOLOTL_BACKEND)
    card["axolotl_version"] = _axolotl_version()
    log(f"exporting {request.version}: adapter, merged weights and card")
    return finish_version(request.models_dir, work, card, request.base, adapter, tokenizer, runtime)


def _axolotl_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("axolotl")
    except PackageNotFoundError:
        return None


def card_metadata(card: dict[str, Any]) -> dict[str, Any]:
    """What the external process reports back to Dagster with its materialization."""
    reported = {
        "version": card["version"], "backend": card["backend"], "axolotl_version": card.get("axolotl_version"),
        "train_loss": card["train_loss"], "eval_loss": card["eval_loss"], "tokens_seen": card["tokens_seen"],
        "tokens_per_second": round(card["tokens_per_second"] or 0.0, 1), "seconds": card["seconds"],
        "device": card["device"],
    }
    return {key: value for key, value in reported.items() if value is not None}


def main(argv: list[str]) -> int:
    """Under Dagster Pipes the request comes as the `request` extra; run alone, from a JSON file."""
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    under_pipes = PipesEnvVarParamsLoader().is_dagster_pipes_process()
    if not under_pipes and len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open_dagster_pipes() as pipes:
        data = pipes.get_extra("request") if under_pipes else json.loads(Path(argv[0]).read_text())
        request = AxolotlRequest.from_dict(data)
        log = pipes.log.info if under_pipes else print
        failed = failure_file(request.models_dir, request.version)
        failed.unlink(missing_ok=True)
        try:
            twin = train_with_axolotl(request, log=log)
        except (AxolotlFailed, ValueError) as exc:
            failed.parent.mkdir(parents=True, exist_ok=True)
            failed.write_text(str(exc))
            raise
        pipes.report_asset_materialization(metadata=card_metadata(twin.card))
        print(json.dumps({"version": twin.version, "folder": str(twin.folder), "reused": twin.reused}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
