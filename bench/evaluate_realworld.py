"""The twin's whole training chain on the real blog, on CPU: base vs fine-tuned, every metric.

Collects and cleans the first `--limit` posts of ../shared/realworld/blog-posts (served on
127.0.0.1), then materializes with the project's own assets and default settings, on the real
SmolLM2-135M-Instruct: the chunks and vector index, base_model, instruct_dataset,
preference_dataset (the base model writes every rejected answer), twin_model (one epoch of the
`full` export with the preset's LoRA) and model_evaluation with its promotion gate. Prints each
step's time, the dataset sizes, the comparison table and the gate's verdict.

    [TWIN_BENCH_HOME=DIR] .venv/bin/python bench/evaluate_realworld.py --limit 80

On 2 cores, 80 posts take about 25 minutes and 160 about an hour, most of it the rejected answers.
TWIN_BENCH_HOME keeps the lake, so a second run with nothing new only re-reads the results.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import polars as pl
import yaml
from dagster_aws.s3 import S3Resource

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from clean_realworld import timed_build  # noqa: E402
from collect_realworld import bench_arguments, collect_real_blog  # noqa: E402
from rejected_smollm2 import materialize  # noqa: E402

from training.base_model import SMOLLM2_135M_INSTRUCT  # noqa: E402
from twin_assets.datasets.assets import DatasetResource, instruct_dataset, preference_dataset  # noqa: E402
from twin_assets.features.assets import EmbeddingResource, VectorIndexResource, document_chunks, vector_index  # noqa: E402
from twin_assets.models.assets import BaseModelResource, TrainingResource, base_model, twin_model  # noqa: E402
from twin_assets.models.axolotl import AxolotlResource  # noqa: E402
from twin_assets.lake import MODEL_EVALUATION  # noqa: E402
from twin_assets.models.evaluation import comparison, gate_failures  # noqa: E402
from twin_assets.models.evaluation_assets import EvaluationResource, model_evaluation  # noqa: E402
from twin_assets.resources import LakeResource, TwinConfigResource  # noqa: E402

AUTHOR = "real"  # the author id collect_realworld's config gives the blog
CHAIN = [document_chunks, vector_index, base_model, instruct_dataset, preference_dataset, twin_model, model_evaluation]


def resources(root: Path) -> dict:
    config = root.parent / f"{root.name}-twin.yaml"
    config.write_text(yaml.safe_dump({"authors": [{"id": AUTHOR, "name": "Real author",
                                                   "sources": ["http://127.0.0.1/feed.xml"]}]}))
    return {
        "lake": LakeResource(root=str(root), s3=S3Resource()),
        "twin_config": TwinConfigResource(path=str(config)),
        "embedding": EmbeddingResource(),
        "index": VectorIndexResource(backend="lancedb"),
        "datasets": DatasetResource(rejected_from="base_model"),
        "base": BaseModelResource(name=SMOLLM2_135M_INSTRUCT.name),
        "training": TrainingResource(),
        "axolotl": AxolotlResource(),
        "evaluation": EvaluationResource(),
    }


def run(args, root: Path) -> int:
    if not (root / "lake" / "raw").exists():  # collected by an earlier run
        posts = collect_real_blog(args, root)
        if posts is None:
            return 0
        print(f"collected {posts} posts; dbt build {timed_build(root):.1f} s", flush=True)
    chain = resources(root)
    cards = {}
    for position, asset in enumerate(CHAIN):
        name = asset.key.to_user_string()
        seconds, step_cards = materialize(CHAIN[: position + 1], chain)
        cards.update(step_cards)
        print(f"{name:<20} {seconds:8.1f} s", flush=True)
    instruct, pairs, model = cards["instruct_dataset"], cards["preference_dataset"], cards["twin_model"]
    evaluation = cards["model_evaluation"]
    print(f"\ninstruct_dataset {instruct['dagster/row_count']} samples; preference_dataset "
          f"{pairs['dagster/row_count']} pairs (dropped {pairs['dropped']})")
    print(f"twin_model {model['version']}: {model['train_samples']} train samples, {model['tokens_seen']} tokens at "
          f"{model['tokens_per_second']} tokens/s, train loss {model['train_loss']}, eval loss {model['eval_loss']}")
    print(f"models: {evaluation['models']}\n\n{evaluation['comparison']}\n")
    rows = chain["lake"].lake().read(MODEL_EVALUATION).filter(pl.col("evaluation") == evaluation["evaluation"])
    failures = gate_failures(comparison(rows.to_dicts()), chain["evaluation"].gate())
    print("promotion gate: " + ("passed" if not failures else "failed: " + "; ".join(failures)))
    return 0


def main() -> int:
    args = bench_arguments(__doc__)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("TWIN_LLM_BASE_URL", None)  # offline metrics only; the base model writes the rejected answers
    home = os.environ.get("TWIN_BENCH_HOME")
    if home:
        return run(args, Path(home).resolve())
    with tempfile.TemporaryDirectory(prefix="twin-bench-") as work:
        return run(args, Path(work) / "real")


if __name__ == "__main__":
    sys.exit(main())
