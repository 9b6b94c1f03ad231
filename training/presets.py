"""Presets for the model families and sizes people fine-tune: switching family or size is one
setting (`TrainingConfig.from_preset("qwen2.5-14b")`).

Per-size settings target one 80 GB GPU: LoRA in bf16 up to 14B, QLoRA (4-bit base) from 32B,
micro-batches shrinking and gradient accumulation growing with size so the effective batch
stays 8. From 1B the presets use Liger's fused kernels and no LoRA dropout; up to 10B they skip
gradient checkpointing, which the memory allows: on one H100 an 8B LoRA at 2,048 tokens ran at
9,400 tokens/s (model FLOPs utilisation 0.46) that way against 4,100 (0.20) with checkpointing
and plain kernels (bench/gpu_lora_throughput.py). Each preset carries its architecture facts, so the
transformers config (and a weightless model on the `meta` device) can be built without
downloading anything.

`base_model` is a Hugging Face id, except for the models this project can build or convert
offline (`local:tiny-llama`, and `smollm2-135m-instruct` from its GGUF package).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from training.base_model import LOCAL_TINY_LLAMA, TinyLlamaSpec

# The projections of a Llama-style decoder layer: attention and MLP, every linear layer but the head.
LLAMA_STYLE_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Architecture:
    model_type: Literal["llama", "mistral", "qwen2"]
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool

    def transformers_config(self) -> Any:
        from transformers import LlamaConfig, MistralConfig, Qwen2Config

        config_class = {"llama": LlamaConfig, "mistral": MistralConfig, "qwen2": Qwen2Config}[self.model_type]
        return config_class(
            hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, num_key_value_heads=self.num_key_value_heads,
            intermediate_size=self.intermediate_size, vocab_size=self.vocab_size,
            tie_word_embeddings=self.tie_word_embeddings,
        )


@dataclass(frozen=True)
class Preset:
    name: str
    base_model: str
    chat_template_family: str  # Axolotl's name for the template the tokenizer carries
    architecture: Architecture
    parameters: int | None  # the published count; None for a model whose vocabulary depends on its corpus
    adapter: Literal["lora", "qlora"]
    sequence_len: int
    micro_batch_size: int
    gradient_accumulation_steps: int
    gradient_checkpointing: bool
    liger: bool = False
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = LLAMA_STYLE_TARGETS

    def config_fields(self) -> dict[str, Any]:
        """The TrainingConfig fields this preset decides."""
        return {
            "preset": self.name, "base_model": self.base_model, "adapter": self.adapter,
            "lora_target_modules": list(self.lora_target_modules), "sequence_len": self.sequence_len,
            "micro_batch_size": self.micro_batch_size, "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "gradient_checkpointing": self.gradient_checkpointing, "liger": self.liger,
            "lora_dropout": self.lora_dropout,
        }


def _sized(parameters: int) -> dict[str, Any]:
    """Adapter, batch shape and checkpointing for a model of this size on one 80 GB GPU."""
    if parameters < 1_000_000_000:
        return {"adapter": "lora", "micro_batch_size": 8, "gradient_accumulation_steps": 1, "gradient_checkpointing": False}
    fused = {"liger": True, "lora_dropout": 0.0}  # dropout copies every LoRA input: 6% of the step at 8B
    if parameters < 10_000_000_000:
        return {"adapter": "lora", "micro_batch_size": 2, "gradient_accumulation_steps": 4, "gradient_checkpointing": False, **fused}
    if parameters < 20_000_000_000:
        return {"adapter": "lora", "micro_batch_size": 2, "gradient_accumulation_steps": 4, "gradient_checkpointing": True, **fused}
    if parameters < 50_000_000_000:
        return {"adapter": "qlora", "micro_batch_size": 2, "gradient_accumulation_steps": 4, "gradient_checkpointing": True, **fused}
    return {"adapter": "qlora", "micro_batch_size": 1, "gradient_accumulation_steps": 8, "gradient_checkpointing": True, **fused}


def _published(name: str, base_model: str, template: str, parameters: int, architecture: Architecture) -> Preset:
    return Preset(
        name=name, base_model=base_model, chat_template_family=template, architecture=architecture,
        parameters=parameters, sequence_len=2048, **_sized(parameters),
    )


_TINY = TinyLlamaSpec()
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="tiny-llama", base_model=LOCAL_TINY_LLAMA, chat_template_family="chatml",
            architecture=Architecture("llama", _TINY.hidden_size, _TINY.layers, _TINY.heads, _TINY.heads,
                                      _TINY.intermediate_size, _TINY.vocab_size, True),
            parameters=None, adapter="lora", sequence_len=1024, micro_batch_size=4, gradient_accumulation_steps=1,
            gradient_checkpointing=False,
        ),
        _published("smollm2-135m", "smollm2-135m-instruct", "chatml", 134_515_008,
                   Architecture("llama", 576, 30, 9, 3, 1536, 49_152, True)),
        _published("llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct", "llama3", 8_030_261_248,
                   Architecture("llama", 4096, 32, 32, 8, 14_336, 128_256, False)),
        _published("llama-3.1-70b", "meta-llama/Llama-3.1-70B-Instruct", "llama3", 70_553_706_496,
                   Architecture("llama", 8192, 80, 64, 8, 28_672, 128_256, False)),
        _published("mistral-7b", "mistralai/Mistral-7B-Instruct-v0.3", "mistral_v2v3", 7_248_023_552,
                   Architecture("mistral", 4096, 32, 32, 8, 14_336, 32_768, False)),
        _published("qwen2.5-7b", "Qwen/Qwen2.5-7B-Instruct", "qwen_25", 7_615_616_512,
                   Architecture("qwen2", 3584, 28, 28, 4, 18_944, 152_064, False)),
        _published("qwen2.5-14b", "Qwen/Qwen2.5-14B-Instruct", "qwen_25", 14_770_033_664,
                   Architecture("qwen2", 5120, 48, 40, 8, 13_824, 152_064, False)),
        _published("qwen2.5-32b", "Qwen/Qwen2.5-32B-Instruct", "qwen_25", 32_763_876_352,
                   Architecture("qwen2", 5120, 64, 40, 8, 27_648, 152_064, False)),
        _published("qwen2.5-72b", "Qwen/Qwen2.5-72B-Instruct", "qwen_25", 72_706_203_648,
                   Architecture("qwen2", 8192, 80, 64, 8, 29_568, 152_064, False)),
    )
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"preset: unknown preset {name!r}; known: {', '.join(PRESETS)}") from None
