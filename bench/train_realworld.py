"""Fine-tuning the real SmolLM2 on an instruct_dataset export: held-out perplexity before and after.

Runs the project's trainer (training/run.py: TRL SFTTrainer + peft LoRA) from the smollm2-135m
preset on one exported dataset version and size, and scores the author's held-out test split
with training/perplexity.py before (the base model) and after (the merged twin), both in float32
and with the same tokenizer, so the ratio compares like with like. On CPU use `--size tiny`
(a LoRA step of SmolLM2 runs at about 60 tokens/s on 2 cores); `full` is a GPU job.

Make the export first (bench/datasets_realworld.py builds the real blog's datasets; any
TWIN_HOME's `datasets/` folder works):

    .venv/bin/python bench/train_realworld.py --datasets $TWIN_HOME/datasets --version 1 --size tiny
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from training.base_model import SMOLLM2_135M_INSTRUCT, ensure_converted  # noqa: E402
from training.config import TrainingConfig  # noqa: E402
from training.data import INSTRUCT_DATASET, DatasetRef, load_split  # noqa: E402
from training.perplexity import completion_perplexity  # noqa: E402
from training.run import BaseModelRef, train_twin  # noqa: E402
from training.runtime import load_training_tokenizer  # noqa: E402


def held_out_perplexity(model_dir: Path, tokenizer, test_rows: list[dict], max_length: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).to(device)
    scores = completion_perplexity(model, tokenizer, test_rows, max_length=max_length, batch_size=8)
    del model
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, required=True, help="folder holding instruct_dataset/v<N>/<size>/")
    parser.add_argument("--version", type=int, required=True, help="the instruct_dataset Delta version to train on")
    parser.add_argument("--size", default="tiny", choices=["tiny", "small", "full"])
    parser.add_argument("--home", type=Path, default=Path("/tmp/twin-train-bench"), help="where models are written")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    base_dir = args.home / "models" / "base" / SMOLLM2_135M_INSTRUCT.name
    started = time.perf_counter()
    card, converted = ensure_converted(SMOLLM2_135M_INSTRUCT, base_dir)
    convert_s = time.perf_counter() - started
    config = TrainingConfig.from_preset(
        "smollm2-135m", dataset_size=args.size, num_epochs=args.epochs, max_steps=args.max_steps,
        lora_r=args.lora_r, lora_alpha=2 * args.lora_r, learning_rate=args.learning_rate,
        micro_batch_size=args.micro_batch, gradient_accumulation_steps=1, save_steps=1000,
        gradient_checkpointing=False,  # 135M parameters fit without it, and it costs a third of the speed
    )
    instruct = DatasetRef.at(args.datasets, INSTRUCT_DATASET, args.version)
    test_rows = load_split(instruct, args.size, "test", required=True)
    tokenizer = load_training_tokenizer(base_dir, config.chat_template)

    before = held_out_perplexity(base_dir, tokenizer, test_rows, config.sequence_len)
    twin = train_twin(config, BaseModelRef(base_dir, card.identity), instruct, args.home / "models")
    after = held_out_perplexity(twin.merged_dir, tokenizer, test_rows, config.sequence_len)
    sft = twin.card["stages"]["sft"]
    summary = {
        "device": twin.card["device"],
        "precision": twin.card["precision"],
        "base_converted_now": converted,
        "convert_seconds": round(convert_s, 1),
        "dataset": twin.card["datasets"][INSTRUCT_DATASET],
        "config": {k: config.to_dict()[k] for k in ("lora_r", "learning_rate", "num_epochs", "micro_batch_size",
                                                     "sequence_len", "sample_packing")},
        "steps": sft["steps"],
        "train_seconds": sft["train_seconds"],
        "tokens_seen": twin.card["tokens_seen"],
        "tokens_per_second": round(twin.card["tokens_per_second"] or 0, 1),
        "eval_loss": twin.card["eval_loss"],
        "held_out_tokens": before["tokens"],
        "perplexity_base": round(before["perplexity"], 2),
        "perplexity_twin": round(after["perplexity"], 2),
        "ratio": round(after["perplexity"] / before["perplexity"], 3),
        "reused": twin.reused,
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
