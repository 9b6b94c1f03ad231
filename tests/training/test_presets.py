"""Presets build their real architecture on the meta device (no weights): the LoRA targets exist
and the size matches the published parameter count."""

import pytest
import torch

from training.config import TrainingConfig
from training.presets import PRESETS, preset

PUBLISHED = [p for p in PRESETS.values() if p.parameters is not None]


def weightless_model(name: str) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(preset(name).architecture.transformers_config())


@pytest.mark.parametrize("name", [p.name for p in PUBLISHED])
def test_the_architecture_has_the_published_size(name):
    model = weightless_model(name)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - preset(name).parameters) <= 0.1 * preset(name).parameters
    assert all(p.device.type == "meta" for p in model.parameters())


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_lora_target_is_a_linear_layer_of_the_model(name):
    model = weightless_model(name)
    linear = {n.rsplit(".", 1)[-1] for n, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    assert set(preset(name).lora_target_modules) <= linear


def test_the_family_picks_the_transformers_model_class():
    classes = {name: type(weightless_model(name)).__name__ for name in ("llama-3.1-8b", "mistral-7b", "qwen2.5-7b")}
    assert classes == {"llama-3.1-8b": "LlamaForCausalLM", "mistral-7b": "MistralForCausalLM", "qwen2.5-7b": "Qwen2ForCausalLM"}


def test_qlora_from_32b_lora_below():
    assert {p.name for p in PUBLISHED if p.adapter == "qlora"} == {"qwen2.5-32b", "llama-3.1-70b", "qwen2.5-72b"}
    assert all(p.parameters >= 32e9 for p in PUBLISHED if p.adapter == "qlora")


def test_bigger_models_trade_micro_batch_for_accumulation_and_checkpoint_gradients():
    by_size = sorted(PUBLISHED, key=lambda p: p.parameters)
    micro = [p.micro_batch_size for p in by_size]
    assert micro == sorted(micro, reverse=True)
    assert {p.micro_batch_size * p.gradient_accumulation_steps for p in by_size} == {8}
    assert [p.gradient_checkpointing for p in by_size] == [p.parameters >= 10e9 for p in by_size]


def test_gpu_presets_use_the_fused_kernels_the_cpu_presets_cannot():
    assert [p.name for p in PRESETS.values() if p.liger] == [p.name for p in PUBLISHED if p.parameters >= 1e9]
    assert all(p.lora_dropout == 0.0 for p in PRESETS.values() if p.liger)


def test_the_8b_preset_is_the_setting_measured_fastest_on_an_h100():
    # bench/gpu_lora_throughput.py: no checkpointing, micro-batch 2, Liger, no dropout reached MFU 0.46.
    config = TrainingConfig.from_preset("llama-3.1-8b")
    assert (config.gradient_checkpointing, config.micro_batch_size, config.liger, config.lora_dropout,
            config.sequence_len, config.adapter) == (False, 2, True, 0.0, 2048, "lora")


def test_the_tiny_llama_preset_matches_the_local_base_model(tiny_base_model):
    from transformers import AutoConfig

    built, facts = AutoConfig.from_pretrained(tiny_base_model), preset("tiny-llama").architecture
    assert (built.hidden_size, built.num_hidden_layers, built.intermediate_size, built.tie_word_embeddings) == \
        (facts.hidden_size, facts.num_hidden_layers, facts.intermediate_size, facts.tie_word_embeddings)
