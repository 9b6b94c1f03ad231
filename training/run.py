"""One fine-tuning run of the twin: SFT (then DPO when configured) from a base model and dataset
versions, into `<models_dir>/twin/<version>/` with `adapter/`, `merged/` and `card.json`.

- The version name is fixed by what determines the weights (config hash, base weights, dataset
  versions), so a re-run with nothing new returns the existing card without training.
- Work happens in `<version>.work/`: checkpoints every `save_steps`, each finished stage's
  adapter. A run that is killed and started again resumes from its last complete checkpoint.
- The version folder appears by one rename at the end, so a failed run never leaves half of one.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from training.config import TrainingConfig
from training.data import DatasetRef
from training.dpo import TRAINED_ADAPTER, build_dpo_trainer, dpo_datasets, load_policy
from training.runtime import (
    OnStep,
    Runtime,
    detect_runtime,
    last_complete_checkpoint,
    load_base_model,
    load_training_tokenizer,
    step_reporter,
)
from training.sft import build_sft_trainer, sft_datasets

TWINS = "twin"
LOCAL_BACKEND = "local"
CARD_FILE = "card.json"
ADAPTER = "adapter"
STAGE_RESULT = "result.json"


@dataclass(frozen=True)
class BaseModelRef:
    location: str | Path  # a model folder or a Hugging Face id to load from
    identity: str  # names exactly these weights, e.g. the base model card's identity or an id@revision


@dataclass(frozen=True)
class TrainedTwin:
    version: str
    folder: Path
    card: dict[str, Any]
    reused: bool  # an earlier run had already trained this version

    @property
    def adapter_dir(self) -> Path:
        return self.folder / ADAPTER

    @property
    def merged_dir(self) -> Path:
        return self.folder / "merged"


def version_name(
    config: TrainingConfig, base: BaseModelRef, instruct: DatasetRef, preference: DatasetRef | None = None,
    backend: str = LOCAL_BACKEND,
) -> str:
    """`<size>-<stages>-<digest>`, the digest over everything that determines the weights, the
    trainer included: the same config trained by Axolotl is another version beside the local one.
    The code version is recorded on the card but left out here, or every commit would retrain."""
    key = {
        "config": config.config_hash(),
        "base": base.identity,
        "instruct": [instruct.name, instruct.version],
        "preference": [preference.name, preference.version] if config.dpo and preference else None,
    }
    if backend != LOCAL_BACKEND:  # left out for the local trainer, so its versions keep their names
        key["backend"] = backend
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return f"{config.dataset_size}-{'sft-dpo' if config.dpo else 'sft'}-{digest}"


def read_twin(models_dir: Path, version: str) -> TrainedTwin | None:
    folder = Path(models_dir) / TWINS / version
    card = folder / CARD_FILE
    return TrainedTwin(version, folder, json.loads(card.read_text()), reused=True) if card.is_file() else None


def train_twin(
    config: TrainingConfig, base: BaseModelRef, instruct: DatasetRef, models_dir: Path,
    preference: DatasetRef | None = None, on_step: OnStep | None = None,
) -> TrainedTwin:
    """Trains (or resumes, or finds) the version these inputs determine; `on_step` sees every step."""
    if config.dpo and preference is None:
        raise ValueError("dpo: the config enables DPO but no preference dataset was given")
    version = version_name(config, base, instruct, preference)
    if existing := read_twin(models_dir, version):
        return existing

    started = time.perf_counter()
    # Everything that can be checked before training is, so bad inputs fail without writing anything.
    runtime = detect_runtime(config)
    sft_train, sft_test = sft_datasets(instruct, config.dataset_size)
    dpo_train, dpo_test = dpo_datasets(preference, config.dataset_size) if config.dpo else (None, None)
    tokenizer = load_training_tokenizer(base.location, config.chat_template)
    four_bit = config.adapter == "qlora"

    work = Path(models_dir) / TWINS / f"{version}.work"
    stages = {"sft": _run_stage(
        "sft", work / "sft", on_step,
        lambda out, callbacks: build_sft_trainer(
            config, runtime, load_base_model(base.location, runtime, four_bit=four_bit), tokenizer,
            sft_train, sft_test, out, callbacks,
        ),
    )}
    sft_adapter = adapter = work / "sft" / ADAPTER
    if config.dpo:
        stages["dpo"] = _run_stage(
            "dpo", work / "dpo", on_step,
            lambda out, callbacks: build_dpo_trainer(
                config, runtime, load_policy(load_base_model(base.location, runtime, four_bit=four_bit), sft_adapter),
                tokenizer, dpo_train, dpo_test, out, callbacks,
            ),
        )
        adapter = work / "dpo" / ADAPTER

    datasets = {instruct.name: dataset_entry(instruct, config, sft_train, sft_test)}
    if config.dpo and preference:
        datasets[preference.name] = dataset_entry(preference, config, dpo_train, dpo_test)
    card = build_card(version, config, base, datasets, stages, runtime, time.perf_counter() - started)
    return finish_version(models_dir, work, card, base, adapter, tokenizer, runtime)


def finish_version(
    models_dir: Path, work: Path, card: dict[str, Any], base: BaseModelRef, adapter: Path, tokenizer: Any,
    runtime: Runtime,
) -> TrainedTwin:
    """Exports the trained `adapter` with its card into the version folder, which appears by one
    rename, and removes the work folder: whichever trainer ran, versions look alike."""
    staging = work / "version"
    shutil.rmtree(staging, ignore_errors=True)  # what a run killed while exporting left behind
    _export(base, adapter, tokenizer, runtime, staging)
    (staging / CARD_FILE).write_text(json.dumps(card, indent=2))
    final = Path(models_dir) / TWINS / card["version"]
    os.replace(staging, final)
    shutil.rmtree(work)
    return TrainedTwin(card["version"], final, card, reused=False)


def _run_stage(
    stage: str, stage_dir: Path, on_step: OnStep | None, make_trainer: Callable[[Path, list[Any]], Any],
) -> dict[str, Any]:
    """Trains one stage, resuming from its last checkpoint; a stage finished earlier is not rerun."""
    done = stage_dir / STAGE_RESULT
    if done.is_file():
        return json.loads(done.read_text())
    reporter = step_reporter(stage, on_step)
    trainer = make_trainer(stage_dir / "checkpoints", [reporter])
    checkpoint = last_complete_checkpoint(stage_dir / "checkpoints")
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    eval_loss = trainer.evaluate()["eval_loss"] if trainer.eval_dataset is not None else None
    trainer.model.save_pretrained(stage_dir / ADAPTER, selected_adapters=[TRAINED_ADAPTER])
    result = stage_summary(
        trainer.state.log_history, eval_loss, tokens_seen=trainer.state.num_input_tokens_seen,
        session_tokens=reporter.session_tokens, session_seconds=reporter.session_seconds,
        resumed_from_step=reporter.resumed_from_step,
    )
    _write_atomically(done, json.dumps(result))
    del trainer
    _release_memory()
    return result


def stage_summary(
    log_history: list[dict[str, Any]], eval_loss: float | None, *, tokens_seen: int, session_tokens: int,
    session_seconds: float, resumed_from_step: int,
) -> dict[str, Any]:
    """What the card keeps of a stage, from the trainer's log history (which survives a resume)."""
    steps = [entry for entry in log_history if "loss" in entry]
    losses = [entry["loss"] for entry in steps]
    return {
        "steps": steps[-1]["step"] if steps else 0,
        "train_loss": sum(losses) / len(losses) if losses else None,
        "eval_loss": eval_loss,
        "tokens_seen": tokens_seen,
        # Throughput of this session only: a resumed stage is timed from its resume.
        "session_tokens": session_tokens,
        "train_seconds": round(session_seconds, 3),
        "tokens_per_second": session_tokens / session_seconds if session_seconds else None,
        "resumed_from_step": resumed_from_step,
        "loss_history": [
            {"step": e["step"], "loss": e["loss"], "learning_rate": e.get("learning_rate"),
             "tokens_seen": e.get("num_input_tokens_seen")}
            for e in steps
        ],
        "eval_history": [{"step": e["step"], "eval_loss": e["eval_loss"]} for e in log_history if "eval_loss" in e],
    }


def build_card(
    version: str, config: TrainingConfig, base: BaseModelRef, datasets: dict[str, Any], stages: dict[str, Any],
    runtime: Runtime, seconds: float, backend: str = LOCAL_BACKEND,
) -> dict[str, Any]:
    """The run's record. Top-level losses are SFT's: the model's loss on the author's own text,
    which a DPO loss is not."""
    session_tokens = sum(s["session_tokens"] for s in stages.values())
    session_seconds = sum(s["train_seconds"] for s in stages.values())
    return {
        "version": version,
        "base_model": {"name": config.base_model, "identity": base.identity},
        "datasets": datasets,
        "config": config.to_dict(),
        "config_hash": config.config_hash(),
        "backend": backend,
        "code_version": git_commit(),
        "train_loss": stages["sft"]["train_loss"],
        "eval_loss": stages["sft"]["eval_loss"],
        "tokens_seen": sum(s["tokens_seen"] for s in stages.values()),
        "tokens_per_second": session_tokens / session_seconds if session_seconds else None,
        "seconds": round(seconds, 3),
        "device": runtime.device_name,
        "precision": runtime.precision,
        "stages": stages,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def dataset_entry(dataset: DatasetRef, config: TrainingConfig, train: Any, test: Any | None) -> dict[str, Any]:
    return {"version": dataset.version, "size": config.dataset_size, "train_samples": len(train),
            "test_samples": len(test) if test is not None else 0}


def _export(base: BaseModelRef, adapter: Path, tokenizer: Any, runtime: Runtime, folder: Path) -> None:
    """adapter/ for engines that load LoRA adapters, merged/ (full weights) for those that cannot.
    Both carry the tokenizer with the chat template training used, so serving formats alike."""
    from peft import PeftModel

    shutil.copytree(adapter, folder / ADAPTER)
    tokenizer.save_pretrained(folder / ADAPTER)
    # Merged into unquantized weights: a 4-bit QLoRA base would round the merged deltas away.
    model = PeftModel.from_pretrained(load_base_model(base.location, runtime, four_bit=False), str(adapter))
    model.merge_and_unload().save_pretrained(folder / "merged")
    tokenizer.save_pretrained(folder / "merged")
    del model
    _release_memory()


def git_commit() -> str | None:
    """The commit of the code that trained, when it runs from a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _release_memory() -> None:
    """Frees a finished stage's model before the next one loads the base weights again."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
