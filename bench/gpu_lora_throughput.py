"""LoRA training throughput and model FLOPs utilisation on one GPU, settings against a baseline.

Builds a model of a training preset's shape (training/presets.py) with random weights (no
download), wraps it with a peft LoRA (r 16, all linear layers) and times optimizer steps on
random tokens for several settings in one process, so every ratio compares runs on the same
card at the same moment. The first setting is the baseline the project measured before tuning:
bf16, SDPA attention, gradient checkpointing, one sequence of 2,048 tokens per step. MFU counts
6·N FLOPs per token (N: all parameters, embeddings included) against the card's dense bf16 peak.

    python bench/gpu_lora_throughput.py --preset llama-3.1-8b --steps 8
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.presets import PRESETS, preset  # noqa: E402

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


@dataclass(frozen=True)
class Setting:
    name: str
    micro_batch: int = 1
    sequence_len: int = 2048
    gradient_checkpointing: bool = True
    liger: bool = False
    lora_dropout: float = 0.05


SETTINGS = [
    Setting("baseline"),
    Setting("no-checkpointing", gradient_checkpointing=False),
    Setting("no-checkpointing-mb2", micro_batch=2, gradient_checkpointing=False),
    Setting("liger-mb2", micro_batch=2, gradient_checkpointing=False, liger=True),
    Setting("liger-mb2-nodropout", micro_batch=2, gradient_checkpointing=False, liger=True, lora_dropout=0.0),
    Setting("liger-checkpointing-mb8", micro_batch=8, liger=True),
]


def peak_flops() -> float:
    import torch

    name = torch.cuda.get_device_name()
    return next((flops for card, flops in PEAK_BF16_FLOPS.items() if card in name), 989e12)


def build_model(preset_name: str, setting: Setting, vocab_size: int | None = None):
    """The preset's architecture with random bf16 weights on the GPU, wrapped in a fresh LoRA;
    `vocab_size` overrides the preset's (to match a tokenizer at hand)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    if setting.liger:
        from liger_kernel.transformers import apply_liger_kernel_to_llama

        apply_liger_kernel_to_llama(rope=True, rms_norm=True, swiglu=True, fused_linear_cross_entropy=True,
                                    cross_entropy=False)
    config = preset(preset_name).architecture.transformers_config()
    config.max_position_embeddings = 8192
    if vocab_size:
        config.vocab_size = vocab_size
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=torch.bfloat16)
    parameters = sum(p.numel() for p in model.parameters())
    if setting.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.config.use_cache = False
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=setting.lora_dropout, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora), parameters


def measure(preset_name: str, setting: Setting, steps: int, warmup: int) -> dict:
    import torch

    torch.manual_seed(0)
    model, parameters = build_model(preset_name, setting)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, fused=True)
    vocab = model.config.vocab_size
    batch = torch.randint(0, vocab, (setting.micro_batch, setting.sequence_len), device="cuda")
    torch.cuda.reset_peak_memory_stats()
    for step in range(warmup + steps):
        if step == warmup:
            torch.cuda.synchronize()
            started = time.perf_counter()
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    tokens_per_second = steps * setting.micro_batch * setting.sequence_len / seconds
    result = {
        **asdict(setting),
        "parameters": parameters,
        "tokens_per_second": round(tokens_per_second, 1),
        "mfu": round(6 * parameters * tokens_per_second / peak_flops(), 3),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
        "loss": round(float(loss), 3),
    }
    del model, optimizer, batch, loss
    gc.collect()
    torch.cuda.empty_cache()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="llama-3.1-8b", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--settings", nargs="*", default=[s.name for s in SETTINGS])
    parser.add_argument("--sequence-len", type=int, default=None, help="overrides every setting's length")
    args = parser.parse_args()
    import torch

    chosen = [s for s in SETTINGS if s.name in args.settings]
    if args.sequence_len:
        chosen = [replace(s, sequence_len=args.sequence_len) for s in chosen]
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "preset": args.preset}))
    results = []
    for setting in chosen:
        try:
            result = measure(args.preset, setting, args.steps, args.warmup)
        except Exception as error:  # one setting out of memory or unsupported must not lose the others
            result = {**asdict(setting), "error": f"{type(error).__name__}: {str(error)[:300]}"}
            gc.collect()
            torch.cuda.empty_cache()
        if results and "tokens_per_second" in result and "tokens_per_second" in results[0]:
            result["speedup_vs_baseline"] = round(result["tokens_per_second"] / results[0]["tokens_per_second"], 2)
        results.append(result)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
