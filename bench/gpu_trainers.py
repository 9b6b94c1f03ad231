"""The project's two trainers against a bare peft loop on one GPU: tokens/s and model FLOPs
utilisation of the local TRL trainer and of Axolotl, each running a preset's config on a
random-weight model of the preset's shape, and the bare loop's baseline in the same process.

The model needs no download: its shape comes from the preset, its tokenizer (and vocabulary)
from any model folder at hand, such as the converted SmolLM2 under `TWIN_HOME/models/base/`.
The training data is a synthetic chat export whose answers fill the preset's sequence length.
Axolotl runs in its own environment: `--axolotl-python` (with its packages importable there).

    python bench/gpu_trainers.py --preset llama-3.1-8b --tokenizer $TWIN_HOME/models/base/smollm2-135m-instruct \\
        --work /root/bench --steps 20 --trainers local axolotl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from gpu_lora_throughput import SETTINGS, measure, peak_flops  # noqa: E402

from training.axolotl_run import AXOLOTL_BACKEND, AxolotlRequest  # noqa: E402
from training.config import TrainingConfig  # noqa: E402
from training.data import INSTRUCT_DATASET, DatasetRef  # noqa: E402
from training.presets import PRESETS, preset  # noqa: E402
from training.prompts import chat_messages  # noqa: E402
from training.run import LOCAL_BACKEND, BaseModelRef, read_twin, train_twin, version_name  # noqa: E402


def random_model(preset_name: str, tokenizer_dir: Path, folder: Path) -> int:
    """Saves the preset's architecture with random bf16 weights and the given tokenizer; returns
    the parameter count. Kept when already saved: writing 16 GB takes a while."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = preset(preset_name).architecture.transformers_config()
    config.vocab_size = len(tokenizer)
    if not (folder / "config.json").is_file():
        with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        del model
    with torch.device("meta"):
        return sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())


def synthetic_export(tokenizer_dir: Path, datasets: Path, samples: int, answer_tokens: int) -> DatasetRef:
    """A chat export of `samples` training rows whose answers are just under `answer_tokens` long."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    words = [w for w in tokenizer.get_vocab() if w.isalpha() and len(w) > 3][:5000]
    rng = random.Random(0)
    ref = DatasetRef.at(datasets, INSTRUCT_DATASET, 0)
    folder = ref.folder / "full"
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", samples), ("test", 4)):
        with (folder / f"{split}.chat.jsonl").open("w") as out:
            for i in range(count):
                answer = ""
                # Up to the target and not past it: Axolotl drops samples longer than sequence_len.
                while len(tokenizer(answer)["input_ids"]) < answer_tokens - 32:
                    answer = " ".join([answer, *(rng.choice(words) for _ in range(16))]).strip()
                out.write(json.dumps({"messages": chat_messages(f"Write note {i}.", answer)}) + "\n")
    return ref


def trainer_result(card: dict, parameters: int, wall: float) -> dict:
    import torch

    sft = card["stages"]["sft"]
    rate = sft["tokens_per_second"] or 0.0
    mfu = round(6 * parameters * rate / peak_flops(), 3) if torch.cuda.is_available() else None  # no GPU peak on CPU
    return {"steps": sft["steps"], "train_seconds": round(sft["train_seconds"], 1), "wall_seconds": round(wall, 1),
            "tokens_per_second": round(rate, 1), "mfu": mfu, "train_loss": card["train_loss"], "device": card["device"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="llama-3.1-8b", choices=sorted(PRESETS))
    parser.add_argument("--tokenizer", type=Path, required=True, help="a model folder whose tokenizer the model uses")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--trainers", nargs="+", default=[LOCAL_BACKEND, AXOLOTL_BACKEND])
    parser.add_argument("--axolotl-python", default=sys.executable)
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare loop's baseline")
    parser.add_argument("--sequence-len", type=int, help="overrides the preset's (a CPU smoke test wants it short)")
    parser.add_argument("--micro-batch", type=int, help="overrides the preset's")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    overrides = {"sequence_len": args.sequence_len, "micro_batch_size": args.micro_batch}
    config = TrainingConfig.from_preset(args.preset, dataset_size="full", max_steps=args.steps, save_steps=10_000,
                                        **{k: v for k, v in overrides.items() if v})
    model_dir = args.work / f"random-{args.preset}"
    parameters = random_model(args.preset, args.tokenizer, model_dir)
    instruct = synthetic_export(args.tokenizer, args.work / "datasets", args.samples, config.sequence_len - 96)
    base = BaseModelRef(str(model_dir), f"random-{args.preset}")
    results: dict[str, dict] = {"preset": args.preset, "parameters": parameters,
                                "config": {k: config.to_dict()[k] for k in ("micro_batch_size", "sequence_len",
                                                                             "gradient_checkpointing", "liger", "adapter")}}
    if not args.no_baseline:
        baseline = next(s for s in SETTINGS if s.name == "baseline")
        results["bare_loop_baseline"] = measure(args.preset, baseline, steps=6, warmup=2)
    for trainer in args.trainers:
        models = args.work / f"models-{trainer}"
        started = time.perf_counter()
        if trainer == LOCAL_BACKEND:
            card = train_twin(config, base, instruct, models).card
        else:
            version = version_name(config, base, instruct, backend=AXOLOTL_BACKEND)
            request_file = args.work / "axolotl-request.json"
            request_file.write_text(json.dumps(AxolotlRequest(config, base, instruct, None, models, version).to_dict()))
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(REPO_ROOT)]))}
            subprocess.run([args.axolotl_python, "-m", "training.axolotl_run", str(request_file)], env=env, check=True)
            card = read_twin(models, version).card
        results[trainer] = trainer_result(card, parameters, time.perf_counter() - started)
        if "bare_loop_baseline" in results and "tokens_per_second" in results["bare_loop_baseline"]:
            results[trainer]["vs_bare_baseline"] = round(
                results[trainer]["tokens_per_second"] / results["bare_loop_baseline"]["tokens_per_second"], 2)
        print(json.dumps({trainer: results[trainer]}), flush=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
