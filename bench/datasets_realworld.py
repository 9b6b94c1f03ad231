"""Dataset sizes and token statistics for the real blog and the demo corpus.

Collects and cleans ../shared/realworld/blog-posts (served on 127.0.0.1) and the demo corpus
into fresh lakes, builds instruct_dataset offline (templates), and prints samples per category
and split, output and instruction token lengths (embedding tokenizer, until the training
tokenizer exists), and the time to build against the time to clean (same run).

    .venv/bin/python bench/datasets_realworld.py [--posts DIR] [--limit N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from clean_realworld import timed_build  # noqa: E402
from collect_realworld import BENCH_OPTIONS, bench_arguments, collect_real_blog  # noqa: E402

from twin_assets.collect.crawl import Crawler  # noqa: E402
from twin_assets.datasets.instruct import build_instruct  # noqa: E402
from twin_assets.features.embedding import Embedder  # noqa: E402
from twin_assets.lake import CLEANED_DOCUMENTS, Lake  # noqa: E402
from twin_assets.settings import load_config  # noqa: E402


def report(title: str, root: Path, count) -> None:
    clean_s = timed_build(root)
    documents = Lake(str(root)).read(CLEANED_DOCUMENTS)
    started = time.perf_counter()
    samples = build_instruct(documents)
    build_s = time.perf_counter() - started
    print(f"\n{title}: {documents.height} cleaned documents -> {samples.height} samples "
          f"from {samples['document_id'].n_unique()} documents")
    table = samples.group_by("category", "split").len().sort("category", "split")
    for category, split, rows in table.iter_rows():
        print(f"  {category:<11}{split:<6}{rows:>6}")
    for column in ("output", "instruction"):
        tokens = pl.Series([count(text) for text in samples[column]])
        print(f"  {column} tokens: min {tokens.min()}, median {tokens.median():.0f}, p95 {tokens.quantile(0.95):.0f}, "
              f"max {tokens.max()}, total {tokens.sum()}")
    print(f"  build {build_s:.2f} s; dbt build {clean_s:.2f} s (ratio {build_s / clean_s:.3f})")


def main() -> int:
    args = bench_arguments(__doc__)
    count = Embedder().count_tokens
    with tempfile.TemporaryDirectory(prefix="twin-bench-") as work:
        work_dir = Path(work)
        rendered = collect_real_blog(args, work_dir / "real")
        if rendered is not None:
            report(f"real-world blog ({rendered} posts)", work_dir / "real", count)
        Crawler(Lake(str(work_dir / "demo")), BENCH_OPTIONS).run(load_config(REPO_ROOT / "twin.yaml"))
        report("demo corpus", work_dir / "demo", count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
