"""The two trainers on the same config and data: the local TRL trainer in this process against
Axolotl in its own environment (`make axolotl`), as twin_model runs them. Prints each one's
wall time (start-up, data preparation and export included), training time, tokens/s and losses,
and Axolotl's ratios to the local trainer, measured in the same run.

    .venv/bin/python bench/train_backends.py --datasets $TWIN_HOME/datasets --version 0 \\
        --base $TWIN_HOME/models/base/smollm2-135m-instruct --preset smollm2-135m --max-steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from training.axolotl_run import AXOLOTL_BACKEND, AxolotlRequest  # noqa: E402
from training.base_model import read_card  # noqa: E402
from training.config import TrainingConfig  # noqa: E402
from training.data import INSTRUCT_DATASET, DatasetRef  # noqa: E402
from training.run import LOCAL_BACKEND, BaseModelRef, read_twin, train_twin, version_name  # noqa: E402

AXOLOTL_PYTHON = REPO_ROOT / ".venv-axolotl" / "bin" / "python"


def summary(card: dict, wall: float) -> dict:
    sft = card["stages"]["sft"]
    return {"wall_seconds": round(wall, 1), "train_seconds": round(sft["train_seconds"], 1), "steps": sft["steps"],
            "tokens_seen": card["tokens_seen"], "tokens_per_second": round(card["tokens_per_second"] or 0, 1),
            "train_loss": round(card["train_loss"], 4), "eval_loss": card["eval_loss"] and round(card["eval_loss"], 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, required=True, help="folder holding instruct_dataset/v<N>/<size>/")
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--base", type=Path, required=True, help="a base model folder built by base_model")
    parser.add_argument("--preset", default="smollm2-135m")
    parser.add_argument("--size", default="tiny", choices=["tiny", "small", "full"])
    parser.add_argument("--max-steps", type=int, default=10)
    args = parser.parse_args()
    if not AXOLOTL_PYTHON.is_file():
        sys.exit(f"{AXOLOTL_PYTHON} is missing: run `make axolotl` first")
    built = read_card(args.base)
    base = BaseModelRef(str(args.base), built[0].identity if built else str(args.base))
    config = TrainingConfig.from_preset(args.preset, dataset_size=args.size, max_steps=args.max_steps, micro_batch_size=2,
                                        gradient_accumulation_steps=1, save_steps=1000)
    instruct = DatasetRef.at(args.datasets, INSTRUCT_DATASET, args.version)
    models = Path(tempfile.mkdtemp(prefix="train-backends-"))
    results = {}

    started = time.perf_counter()
    local = train_twin(config, base, instruct, models)
    results[LOCAL_BACKEND] = summary(local.card, time.perf_counter() - started)

    version = version_name(config, base, instruct, backend=AXOLOTL_BACKEND)
    request_file = models / "request.json"
    request_file.write_text(json.dumps(AxolotlRequest(config, base, instruct, None, models, version).to_dict()))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    subprocess.run([str(AXOLOTL_PYTHON), "-m", "training.axolotl_run", str(request_file)], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    results[AXOLOTL_BACKEND] = summary(read_twin(models, version).card, time.perf_counter() - started)

    ratios = {key: round(results[AXOLOTL_BACKEND][key] / results[LOCAL_BACKEND][key], 2)
              for key in ("wall_seconds", "train_seconds", "tokens_per_second") if results[LOCAL_BACKEND][key]}
    print(json.dumps({"config": {"preset": args.preset, "size": args.size, "max_steps": args.max_steps,
                                 "micro_batch_size": 2}, **results, "axolotl_vs_local": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
