"""Preference tuning after SFT with TRL's DPOTrainer on the preference dataset's chat export
(conversational prompt / chosen / rejected, already TRL's shape).

The SFT adapter keeps training: TRL copies it into a frozen "ref" adapter, so the reference is
the SFT model (not the bare base) and the result is still one adapter over the base weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.config import TrainingConfig
from training.data import DatasetRef, load_split
from training.runtime import Runtime, trainer_arguments

TRAINED_ADAPTER = "default"  # PEFT's name for the adapter being trained; TRL adds "ref" beside it


def dpo_datasets(preference: DatasetRef, size: str) -> tuple[Any, Any | None]:
    from datasets import Dataset

    train = load_split(preference, size, "train", required=True)
    test = load_split(preference, size, "test", required=False)
    return Dataset.from_list(train), (Dataset.from_list(test) if test else None)


def load_policy(base_model: Any, sft_adapter: Path) -> Any:
    """The base model with the SFT adapter, trainable, as DPO's starting point."""
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, str(sft_adapter), is_trainable=True)


def build_dpo_trainer(
    config: TrainingConfig, runtime: Runtime, policy: Any, tokenizer: Any, train: Any, evaluation: Any | None,
    output_dir: Path, callbacks: Sequence[Any] = (),
) -> Any:
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    stage = config.dpo
    if stage is None:
        raise ValueError("dpo: this config has no DPO stage")
    args = DPOConfig(
        **trainer_arguments(
            config, runtime, output_dir, learning_rate=stage.learning_rate, num_epochs=stage.num_epochs,
            max_steps=stage.max_steps, evaluates=evaluation is not None,
        ),
        beta=stage.beta,
        max_length=config.sequence_len,
    )
    trainer = DPOTrainer(
        model=policy, args=args, train_dataset=train, eval_dataset=evaluation, processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    trainer.remove_callback(PrinterCallback)
    return trainer
