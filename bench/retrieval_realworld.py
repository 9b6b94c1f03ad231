"""Retrieval quality on the real blog: for each held-out instruction of instruct_dataset, is the
document the author's answer came from among the first k results, with the retrieval code the
service and model_evaluation use (recall@k and MRR, overall and per category).

Collects and cleans ../shared/realworld/blog-posts (served on 127.0.0.1), materializes the
chunks, the vector index and instruct_dataset (the local tiny Llama counts tokens), then asks.

    .venv/bin/python bench/retrieval_realworld.py [--posts DIR] [--limit N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from clean_realworld import timed_build  # noqa: E402
from collect_realworld import bench_arguments, collect_real_blog  # noqa: E402

from twin_assets.datasets.assets import DatasetResource, instruct_dataset  # noqa: E402
from twin_assets.features.assets import EmbeddingResource, VectorIndexResource, document_chunks, vector_index  # noqa: E402
from twin_assets.features.retrieval import Retriever  # noqa: E402
from twin_assets.lake import INSTRUCT_DATASET  # noqa: E402
from twin_assets.models.assets import BaseModelResource, base_model  # noqa: E402
from twin_assets.models.evaluation import HeldOutSplit, retrieval_rows  # noqa: E402
from twin_assets.resources import LakeResource  # noqa: E402

K = 5


def main() -> int:
    args = bench_arguments(__doc__)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("TWIN_LLM_BASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="twin-bench-") as work:
        root = Path(work) / "real"
        posts = collect_real_blog(args, root)
        if posts is None:
            return 0
        timed_build(root)
        lake = LakeResource(root=str(root), s3=S3Resource())
        resources = {"lake": lake, "datasets": DatasetResource(), "embedding": EmbeddingResource(),
                     "index": VectorIndexResource(backend="lancedb"), "base": BaseModelResource()}
        dg.materialize([document_chunks, vector_index, base_model, instruct_dataset], resources=resources)
        split = HeldOutSplit.of(lake.lake().read(INSTRUCT_DATASET))
        retriever = Retriever(resources["embedding"].embedder().encode, resources["index"].open(lake))
        started = time.perf_counter()
        ranked = [[hit.document_id for hit in retriever.search(instruction, K)] for instruction in split.instructions]
        seconds = time.perf_counter() - started
        print(f"\nreal blog ({posts} posts): {len(split.instructions)} held-out instructions, "
              f"{1000 * seconds / len(split.instructions):.1f} ms per search")
        for row in retrieval_rows(ranked, split, K):
            print(f"  {row['metric']:<12} {row['category']:<11} {row['value']:.3f}  ({row['samples']} instructions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
