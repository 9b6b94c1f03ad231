"""What the trainer stages share: device and precision, loading the base model and its
tokenizer, trainer arguments, checkpoints, and per-step reporting to the caller."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from training.base_model import _offline, load_tokenizer
from training.config import ChatTemplate, TrainingConfig
from training.prompts import CHATML_TEMPLATE

ResolvedPrecision = Literal["fp32", "bf16", "fp16"]
TRAINER_STATE = "trainer_state.json"  # transformers writes it last, so a checkpoint holding it is complete


@dataclass(frozen=True)
class Runtime:
    device: Literal["cuda", "cpu"]
    device_name: str
    precision: ResolvedPrecision

    @property
    def torch_dtype(self) -> Any:
        import torch

        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]


def resolve_precision(requested: str, cuda: bool, bf16_supported: bool) -> ResolvedPrecision:
    """`auto` is bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU."""
    if requested == "auto":
        return ("bf16" if bf16_supported else "fp16") if cuda else "fp32"
    if requested == "fp16" and not cuda:
        raise ValueError("precision: fp16 training needs a CUDA GPU; use auto or fp32 on CPU")
    return requested  # type: ignore[return-value]


def detect_runtime(config: TrainingConfig) -> Runtime:
    import torch

    cuda = torch.cuda.is_available()
    if config.adapter == "qlora" and not cuda:
        raise ValueError("adapter: qlora loads the base model in 4 bits with bitsandbytes, which needs a CUDA GPU; use lora")
    if config.liger and not cuda:
        raise ValueError("liger: Liger's kernels are written in Triton and run on CUDA GPUs only; set liger: false")
    precision = resolve_precision(config.precision, cuda, cuda and torch.cuda.is_bf16_supported())
    return Runtime("cuda" if cuda else "cpu", torch.cuda.get_device_name() if cuda else "cpu", precision)


def chat_template_for(setting: ChatTemplate, tokenizer_template: str | None) -> str:
    """The template training uses, saved with the model so that serving formats prompts the same way."""
    if setting == "chatml" or (setting == "tokenizer_default_fallback_chatml" and not tokenizer_template):
        return CHATML_TEMPLATE
    if not tokenizer_template:
        raise ValueError("chat_template: the base model's tokenizer has none; use tokenizer_default_fallback_chatml or chatml")
    return tokenizer_template


def load_training_tokenizer(location: str | Path, setting: ChatTemplate) -> Any:
    try:
        tokenizer = load_tokenizer(location)
    except (OSError, ValueError) as exc:
        raise ValueError(f"base model {str(location)!r}: its tokenizer cannot be loaded: {exc}") from exc
    tokenizer.chat_template = chat_template_for(setting, tokenizer.chat_template)
    return tokenizer


def load_base_model(location: str | Path, runtime: Runtime, *, four_bit: bool) -> Any:
    """The base weights in the run's precision; `four_bit` quantizes them for QLoRA."""
    from transformers import AutoModelForCausalLM

    options: dict[str, Any] = {"dtype": runtime.torch_dtype, "local_files_only": _offline()}
    if four_bit:
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=runtime.torch_dtype,
        )
    try:
        return AutoModelForCausalLM.from_pretrained(str(location), **options)
    except (OSError, ValueError) as exc:
        raise ValueError(f"base model {str(location)!r} cannot be loaded: {exc}") from exc


def lora_config(config: TrainingConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules, bias="none", task_type="CAUSAL_LM",
    )


def batch_shape(config: TrainingConfig, device: str) -> tuple[int, int]:
    """(samples per forward pass, passes per optimizer step). The effective batch is the config's
    on every device, so a version trains the same wherever it runs; on CPU it goes one sample at a
    time. SmolLM2 on 2 cores, 8 samples of 512 tokens: 187 tokens/s and 3.6 GB one at a time,
    145 tokens/s and 13.5 GB as one batch of 8, which on the real blog's longer samples grew
    past 24 GB; no padding is wasted either."""
    if device == "cpu":
        return 1, config.micro_batch_size * config.gradient_accumulation_steps
    return config.micro_batch_size, config.gradient_accumulation_steps


def trainer_arguments(
    config: TrainingConfig, runtime: Runtime, output_dir: Path, *, learning_rate: float, num_epochs: float,
    max_steps: int | None, evaluates: bool,
) -> dict[str, Any]:
    """The arguments SFTConfig and DPOConfig share (both are transformers TrainingArguments)."""
    per_pass, passes = batch_shape(config, runtime.device)
    return {
        "output_dir": str(output_dir),
        "learning_rate": learning_rate,
        "num_train_epochs": num_epochs,
        "max_steps": max_steps or -1,
        "per_device_train_batch_size": per_pass,
        "per_device_eval_batch_size": config.eval_batch_size,
        "gradient_accumulation_steps": passes,
        "warmup_steps": config.warmup_ratio,  # a float below 1 is a ratio of the total steps
        "weight_decay": config.weight_decay,
        "max_grad_norm": config.max_grad_norm,
        "lr_scheduler_type": config.lr_scheduler,
        "optim": config.optimizer,
        "seed": config.seed,
        # The name transformers 5.23 deprecates for activation_checkpointing, and the only one older 5.x know.
        "gradient_checkpointing": config.gradient_checkpointing,
        "bf16": runtime.precision == "bf16",
        "fp16": runtime.precision == "fp16",
        "use_cpu": runtime.device == "cpu",
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,  # the newest to resume from, and one before it in case that one is cut short
        "eval_strategy": "steps" if evaluates and config.eval_steps else "no",
        "eval_steps": config.eval_steps,
        "logging_steps": 1,  # every step reaches the progress hook
        "include_num_input_tokens_seen": "non_padding",
        "report_to": "none",  # trackers observe through the progress hook, not from inside the trainer
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint that was written to the end; one cut short by a kill is skipped."""
    if not folder.is_dir():
        return None
    complete = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and (p / TRAINER_STATE).is_file()]
    return max(complete)[1] if complete else None


@dataclass(frozen=True)
class StepMetrics:
    stage: str  # sft or dpo
    step: int
    max_steps: int
    epoch: float
    loss: float
    learning_rate: float
    tokens_seen: int  # non-padding input tokens since the stage began, across resumes
    tokens_per_second: float  # since the previous step


OnStep = Callable[[StepMetrics], None]


def step_reporter(stage: str, on_step: OnStep | None) -> Any:
    """A trainer callback that times the session and hands each step's metrics to `on_step`."""
    from transformers import TrainerCallback

    class StepReporter(TrainerCallback):
        resumed_from_step = 0
        session_tokens = 0
        session_seconds = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.resumed_from_step = state.global_step
            self._began = self._last_time = time.perf_counter()
            self._began_tokens = self._last_tokens = state.num_input_tokens_seen

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:
                return  # evaluation and end-of-training summaries are not steps
            now, tokens = time.perf_counter(), state.num_input_tokens_seen
            rate = (tokens - self._last_tokens) / max(now - self._last_time, 1e-9)
            self._last_time, self._last_tokens = now, tokens
            if on_step is not None:
                on_step(StepMetrics(
                    stage=stage, step=state.global_step, max_steps=state.max_steps, epoch=float(state.epoch or 0),
                    loss=float(logs["loss"]), learning_rate=float(logs.get("learning_rate", 0.0)),
                    tokens_seen=tokens, tokens_per_second=rate,
                ))

        def on_train_end(self, args, state, control, **kwargs):
            self.session_seconds = time.perf_counter() - self._began
            self.session_tokens = state.num_input_tokens_seen - self._began_tokens

    return StepReporter()
