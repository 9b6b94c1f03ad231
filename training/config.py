"""The one typed description of a fine-tuning run: it drives the local trainer and is recorded
with every model it produces.

Backend-neutral on purpose: a later renderer turns the same config into Axolotl YAML, so field
names follow Axolotl's keys where one exists (base_model, adapter, lora_r, sequence_len,
micro_batch_size, sample_packing, ...).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Adapter = Literal["lora", "qlora"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
DatasetSize = Literal["tiny", "small", "full"]
# Axolotl's values: the tokenizer's own template, optionally ChatML when it has none, or ChatML always.
ChatTemplate = Literal["tokenizer_default", "tokenizer_default_fallback_chatml", "chatml"]


class _Strict(BaseModel):
    # Unknown keys are typos that would otherwise silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DpoStage(_Strict):
    """Preference tuning after SFT, continuing the same adapter against the SFT model as reference."""

    beta: float = Field(0.1, gt=0)
    learning_rate: float = Field(5e-6, gt=0)
    num_epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, gt=0)


class TrainingConfig(_Strict):
    # Which base model: a Hugging Face id, a model folder, or `local:tiny-llama`.
    base_model: str = Field("local:tiny-llama", min_length=1)
    preset: str | None = None  # the preset it was made from, kept for the record
    chat_template: ChatTemplate = "tokenizer_default_fallback_chatml"

    adapter: Adapter = "lora"
    lora_r: int = Field(16, gt=0)
    lora_alpha: int = Field(32, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_target_modules: list[str] | Literal["all-linear"] = "all-linear"

    learning_rate: float = Field(2e-4, gt=0)
    num_epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, gt=0)  # when set, it wins over num_epochs
    micro_batch_size: int = Field(2, gt=0)
    gradient_accumulation_steps: int = Field(4, gt=0)
    sequence_len: int = Field(2048, gt=0)
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    lr_scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    optimizer: Literal["adamw_torch", "adamw_torch_fused", "paged_adamw_8bit"] = "adamw_torch"
    seed: int = 42
    sample_packing: bool = False
    gradient_checkpointing: bool = False
    liger: bool = False  # Liger's fused Triton kernels (RoPE, RMSNorm, SwiGLU, linear + cross-entropy): CUDA only
    precision: Precision = "auto"

    dataset_size: DatasetSize = "full"
    dpo: DpoStage | None = None  # SFT always runs; DPO follows when this is set

    save_steps: int = Field(50, gt=0)  # a checkpoint every N optimizer steps, to resume from
    eval_steps: int | None = Field(None, gt=0)  # None: evaluate once, at the end of each stage
    eval_batch_size: int = Field(4, gt=0)

    @field_validator("lora_target_modules")
    @classmethod
    def _names_modules(cls, modules: list[str] | str) -> list[str] | str:
        if isinstance(modules, list) and (not modules or not all(m.strip() for m in modules)):
            raise ValueError("name at least one module and no blank ones, or use 'all-linear'")
        return modules

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TrainingConfig:
        """The preset's settings for a model family and size, with `overrides` on top."""
        from training.presets import preset

        return cls(**{**preset(name).config_fields(), **overrides})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def config_hash(self) -> str:
        """sha256 of the canonical JSON: equal configs hash equally whatever order they were written in."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()
