"""Feature-stage benchmarks: chunk + embed + index overhead, incremental updates, search latency.

Collects and cleans ../shared/realworld/blog-posts (served on 127.0.0.1), then:
1. Overhead: chunking and indexing cleaned_documents, divided by a bare `model.encode` of the
   same chunk texts (the baseline, measured in the same run). Goal <= 1.5.
2. Incremental: 1% more documents, then nothing new: chunks embedded and time against the full build.
3. Search latency p50/p99 of the LanceDB index at 10k and 100k chunks against exact brute-force
   numpy search over the same vectors, and recall@10 against it. The vectors are the real chunk
   vectors plus small random perturbations of them, so the index holds realistic neighbourhoods.

    .venv/bin/python bench/features_realworld.py [--posts DIR] [--limit N] [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from clean_realworld import timed_build  # noqa: E402
from collect_realworld import BENCH_OPTIONS, DEFAULT_POSTS, render_site, serve  # noqa: E402

from twin_assets.collect.crawl import Crawler  # noqa: E402
from twin_assets.features.chunking import ChunkBounds  # noqa: E402
from twin_assets.features.chunks import chunk_rows  # noqa: E402
from twin_assets.features.embedding import Embedder  # noqa: E402
from twin_assets.features.index import LanceIndex, sync_index  # noqa: E402
from twin_assets.lake import CLEANED_DOCUMENTS, DOCUMENT_CHUNKS, RAW_ARTICLES, Lake  # noqa: E402
from twin_assets.settings import parse_config  # noqa: E402

BOUNDS = ChunkBounds(128, 24)


def build_features(lake: Lake, index: LanceIndex, embedder: Embedder) -> tuple[float, int, int]:
    """document_chunks then vector_index, as the assets do; returns seconds, chunks embedded, documents chunked."""
    started = time.perf_counter()
    rows, chunked = chunk_rows(
        lake.read(CLEANED_DOCUMENTS), lake.read(DOCUMENT_CHUNKS), embedder.count_tokens,
        BOUNDS.label(embedder.model_name), BOUNDS,
    )
    lake.replace(DOCUMENT_CHUNKS, rows)
    report = sync_index(index, rows.to_dicts(), embedder.encode, embedder.model_name)
    return time.perf_counter() - started, report.added + report.reembedded, chunked


def percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, q))


def search_latency(vectors: np.ndarray, sizes: list[int], work: Path, queries: int = 200) -> None:
    rng = np.random.default_rng(7)
    print("\n3. search latency (k=10), LanceDB exact scan vs numpy brute force over the same vectors")
    print(f"  {'chunks':>8}{'lance p50':>11}{'lance p99':>11}{'numpy p50':>11}{'numpy p99':>11}{'p50 ratio':>11}{'recall@10':>11}")
    for size in sizes:
        base = vectors[rng.integers(0, len(vectors), size)] + rng.normal(0, 0.05, (size, vectors.shape[1])).astype(np.float32)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        index = LanceIndex(str(work / f"latency-{size}"))
        rows = [{"chunk_id": str(i), "document_id": str(i), "author_id": "a", "category": "article", "platform": "web",
                 "url": "", "title": "", "text": ""} for i in range(size)]
        for start in range(0, size, 20_000):
            index.upsert(rows[start : start + 20_000], base[start : start + 20_000], "bench")
        probes = base[rng.integers(0, size, queries)] + rng.normal(0, 0.05, (queries, base.shape[1])).astype(np.float32)
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        lance, brute, recalls = [], [], []
        for probe in probes:
            started = time.perf_counter()
            hits = index.search(probe, 10)
            lance.append(time.perf_counter() - started)
            started = time.perf_counter()
            exact = np.argpartition(-(base @ probe), 10)[:10]
            brute.append(time.perf_counter() - started)
            recalls.append(len({int(h.chunk_id) for h in hits} & set(exact.tolist())) / 10)
        print(f"  {size:>8}{percentile_ms(lance, 50):>9.1f}ms{percentile_ms(lance, 99):>9.1f}ms"
              f"{percentile_ms(brute, 50):>9.1f}ms{percentile_ms(brute, 99):>9.1f}ms"
              f"{percentile_ms(lance, 50) / percentile_ms(brute, 50):>11.2f}{np.mean(recalls):>11.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=Path, default=DEFAULT_POSTS)
    parser.add_argument("--limit", type=int, default=None, help="only the first N posts")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    if not args.posts.is_dir():
        print(f"(no real-world posts at {args.posts}; nothing to measure)")
        return 0

    with tempfile.TemporaryDirectory(prefix="twin-bench-") as work:
        work_dir = Path(work)
        posts = sorted(args.posts.glob("*.md"))[: args.limit]
        held_back = posts[:: 100]  # 1% of the posts arrive later, for the incremental run
        first = [p for p in posts if p not in held_back]
        root = work_dir / "real"
        lake = Lake(str(root))
        site = work_dir / "site"
        render_site(first, site)
        server, base = serve(site)
        config = parse_config({"authors": [{"id": "real", "name": "Real", "sources": [f"{base}/feed.xml"]}]}, work_dir)
        Crawler(lake, BENCH_OPTIONS).run(config)
        timed_build(root)
        embedder = Embedder()
        embedder.encode(["warm up"])  # model loading is not what is measured

        texts = [row["text"] for row in chunk_rows(
            lake.read(CLEANED_DOCUMENTS), lake.read(DOCUMENT_CHUNKS).clear(), embedder.count_tokens, "bare", BOUNDS
        )[0].iter_rows(named=True)]
        started = time.perf_counter()
        vectors = embedder.encode(texts)
        bare = time.perf_counter() - started

        index = LanceIndex(str(root / "vector_index"))
        full, embedded, documents = build_features(lake, index, embedder)
        print(f"real-world blog: {len(first)} posts, {documents} cleaned documents, {len(texts)} chunks of <= {BOUNDS.max_tokens} tokens")
        print("\n1. overhead: chunk + embed + index vs bare model.encode of the same chunk texts")
        print(f"  {'run':<34}{'seconds':>9}{'chunks embedded':>17}{'ratio':>8}")
        print(f"  {'bare model.encode (baseline)':<34}{bare:>9.2f}{len(texts):>17}{1:>8.3f}")
        print(f"  {'document_chunks + vector_index':<34}{full:>9.2f}{embedded:>17}{full / bare:>8.3f}")

        shutil.rmtree(site)
        render_site(posts, site)  # the same site, now with the held-back posts too
        Crawler(lake, BENCH_OPTIONS).run(config)
        server.shutdown()
        timed_build(root)
        more, more_embedded, more_documents = build_features(lake, index, embedder)
        same, same_embedded, _ = build_features(lake, index, embedder)
        print(f"\n2. incremental: {len(held_back)} more posts ({len(held_back) / len(posts):.1%}), then nothing new")
        print(f"  {'run':<34}{'seconds':>9}{'chunks embedded':>17}{'ratio':>8}")
        print(f"  {'full build':<34}{full:>9.2f}{embedded:>17}{1:>8.3f}")
        print(f"  {f'+{more_documents} documents':<34}{more:>9.2f}{more_embedded:>17}{more / full:>8.3f}")
        print(f"  {'nothing new':<34}{same:>9.2f}{same_embedded:>17}{same / full:>8.3f}")
        print(f"  raw articles: {lake.read(RAW_ARTICLES).height}; index size: {index.count()}")

        search_latency(vectors, args.sizes, work_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
