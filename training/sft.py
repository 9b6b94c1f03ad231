"""Supervised fine-tuning on the instruct dataset's chat export with TRL's SFTTrainer and a LoRA adapter.

Each chat sample becomes TRL's conversational prompt/completion pair (system prompt and
instruction / the author's turn). TRL renders both with the tokenizer's chat template, the one
serving uses, and masks the prompt out of the loss. That works with any template; TRL's
`assistant_only_loss` would need `{% generation %}` markers, which our ChatML template (and most
shipped ones) lack.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.config import TrainingConfig
from training.data import DatasetRef, load_split, prompt_completion
from training.runtime import Runtime, lora_config, trainer_arguments


def sft_datasets(instruct: DatasetRef, size: str) -> tuple[Any, Any | None]:
    """Train and test splits as prompt/completion datasets; no test rows means no evaluation."""
    from datasets import Dataset

    train = [prompt_completion(r) for r in load_split(instruct, size, "train", required=True)]
    test = [prompt_completion(r) for r in load_split(instruct, size, "test", required=False)]
    return Dataset.from_list(train), (Dataset.from_list(test) if test else None)


def build_sft_trainer(
    config: TrainingConfig, runtime: Runtime, model: Any, tokenizer: Any, train: Any, evaluation: Any | None,
    output_dir: Path, callbacks: Sequence[Any] = (),
) -> Any:
    """An SFTTrainer that wraps `model` in a fresh LoRA adapter and tokenizes the datasets."""
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig

    args = SFTConfig(
        **trainer_arguments(
            config, runtime, output_dir, learning_rate=config.learning_rate, num_epochs=config.num_epochs,
            max_steps=config.max_steps, evaluates=evaluation is not None,
        ),
        max_length=config.sequence_len,
        packing=config.sample_packing,
        completion_only_loss=True,
        use_liger_kernel=config.liger,
    )
    trainer = sft_trainer_class(runtime.device)(
        model=model, args=args, train_dataset=train, eval_dataset=evaluation, processing_class=tokenizer,
        peft_config=lora_config(config), callbacks=list(callbacks),
    )
    trainer.remove_callback(PrinterCallback)  # steps reach the caller through the progress hook instead of stdout
    return trainer


def sft_trainer_class(device: str) -> type:
    """TRL's SFTTrainer; on CPU, with the model's own loss over full logits.

    TRL computes the loss through a chunked LM head that never holds the full logits: on GPUs
    (Triton kernels) that saves memory on large vocabularies. On CPU it runs as torch tiles, which
    made a SmolLM2 step about 25% slower than the model's own cross-entropy. Both average the
    loss over the same unmasked tokens.
    """
    from transformers import Trainer
    from trl import SFTTrainer

    if device != "cpu":
        return SFTTrainer

    class CpuSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    return CpuSFTTrainer
