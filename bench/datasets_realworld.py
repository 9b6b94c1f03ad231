"""Dataset sizes, token statistics and the cost of a re-run, for the real blog and the demo corpus.

Collects and cleans ../shared/realworld/blog-posts (served on 127.0.0.1) and the demo corpus
into fresh lakes, then materializes base_model, instruct_dataset and preference_dataset with
the Dagster assets on the embedded defaults (local tiny Llama, keyphrases from the bundled
embedding model, rejected answers from the base model). Prints the dataset cards (rows per
category and split, pairs dropped by reason, token lengths with the training tokenizer) and
the time of a re-run with nothing new against the first run (same process, so the ratio holds
on a noisy machine).

    .venv/bin/python bench/datasets_realworld.py [--posts DIR] [--limit N]
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
from collect_realworld import BENCH_OPTIONS, bench_arguments, collect_real_blog  # noqa: E402

from twin_assets.collect.crawl import Crawler  # noqa: E402
from twin_assets.datasets.assets import DatasetResource, instruct_dataset, preference_dataset  # noqa: E402
from twin_assets.features.assets import EmbeddingResource  # noqa: E402
from twin_assets.lake import Lake  # noqa: E402
from twin_assets.models.assets import BaseModelResource, base_model  # noqa: E402
from twin_assets.resources import LakeResource  # noqa: E402
from twin_assets.settings import load_config  # noqa: E402

ASSETS = [base_model, instruct_dataset, preference_dataset]


def materialize(root: Path) -> tuple[float, dict[str, dict]]:
    resources = {
        "lake": LakeResource(root=str(root), s3=S3Resource()),
        "datasets": DatasetResource(rejected_from="base_model"),
        "embedding": EmbeddingResource(),
        "base": BaseModelResource(),
    }
    started = time.perf_counter()
    result = dg.materialize(ASSETS, resources=resources)
    seconds = time.perf_counter() - started
    cards = {e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
             for e in result.get_asset_materialization_events()}
    return seconds, cards


def tokens(stats: dict) -> str:
    return f"min {stats['min']}, median {stats['median']:.0f}, p95 {stats['p95']}, max {stats['max']}" if stats else "-"


def report(title: str, root: Path) -> None:
    clean_s = timed_build(root)
    first_s, cards = materialize(root)
    again_s, again = materialize(root)
    model, instruct, pairs = cards["base_model"], cards["instruct_dataset"], cards["preference_dataset"]
    print(f"\n{title}")
    print(f"  base_model: {model['parameters']} parameters, vocab {model['vocab_size']}, "
          f"{model['corpus_tokens']} corpus tokens, warm-up loss {model['warmup_loss']}, built in {model['build_seconds']} s")
    print(f"  instruct_dataset: {instruct['dagster/row_count']} samples from {instruct['documents']} documents; "
          f"by category {instruct['by_category']}; by split {instruct['by_split']}")
    for column in ("instruction", "output"):
        print(f"    {column} tokens: {tokens(instruct['tokens'][column])}")
    print(f"  preference_dataset: {pairs['dagster/row_count']} pairs from {pairs['prose_samples']} prose samples; "
          f"dropped {pairs['dropped']}; by category {pairs['by_category']}; by split {pairs['by_split']}")
    for column in ("prompt", "chosen", "rejected"):
        print(f"    {column} tokens: {tokens(pairs['tokens'][column])}")
    unchanged = all(again[k]["delta_version"] == cards[k]["delta_version"] for k in ("instruct_dataset", "preference_dataset"))
    print(f"  first run {first_s:.1f} s (dbt build {clean_s:.1f} s); re-run with nothing new {again_s:.1f} s "
          f"(ratio {again_s / first_s:.3f}); new versions on the re-run: {'none' if unchanged else 'YES'}")


def main() -> int:
    args = bench_arguments(__doc__)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("TWIN_LLM_BASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="twin-bench-") as work:
        work_dir = Path(work)
        rendered = collect_real_blog(args, work_dir / "real")
        if rendered is not None:
            report(f"real-world blog ({rendered} posts)", work_dir / "real")
        Crawler(Lake(str(work_dir / "demo")), BENCH_OPTIONS).run(load_config(REPO_ROOT / "twin.yaml"))
        report("demo corpus", work_dir / "demo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
