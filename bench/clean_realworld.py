"""Cleaning benchmark on real writing and on the demo corpus.

Collects ../shared/realworld/blog-posts (served on 127.0.0.1 as in collect_realworld.py) and
the bundled demo corpus into fresh lakes, then for each:
- runs `dbt build` (the twin_dbt project: staging, int_documents, cleaned_documents) and reports
  documents in, out, dropped and why, and the words of each raw document kept after cleaning;
- counts the lines each cleaning rule removes, and the lines the author repeats at the start or
  end of pieces that cleaning keeps;
- validates the raw and cleaned tables with their Great Expectations suites;
- runs `dbt build` again with nothing new: the baseline of the ratio is the first build,
  measured in the same run, and cleaned_documents must keep its Delta version.
For the real blog it then measures retrieval with the repeated openings and closings kept in
the chunks and left out: recall@5 and MRR of each sampled post's own chunks for a query made
from its title (without the "Day N" prefix), over all-MiniLM-L6-v2 vectors of both chunk sets.

    .venv/bin/python bench/clean_realworld.py [--posts DIR] [--limit N]
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from collect_realworld import BENCH_OPTIONS, bench_arguments, collect_real_blog  # noqa: E402

from twin_assets.clean.dbt_cli import DBT_PROJECT_DIR, run_dbt  # noqa: E402
from twin_assets.clean.report import cleaning_summary  # noqa: E402
from twin_assets.clean.text import (  # noqa: E402
    PROSE_CATEGORIES,
    clean_text,
    edge_lines,
    is_contact_line,
    normalize_line,
    removals_by_rule,
    remove_repeated_edge_lines,
    repeated_edge_lines,
)
from twin_assets.collect.crawl import Crawler  # noqa: E402
from twin_assets.features.chunking import chunk_text  # noqa: E402
from twin_assets.features.embedding import Embedder  # noqa: E402
from twin_assets.lake import CLEANED_DOCUMENTS, RAW_DOCUMENT_TABLES, Lake  # noqa: E402
from twin_assets.quality.expectations import run_parameters, validate  # noqa: E402
from twin_assets.settings import load_config  # noqa: E402


def words_kept(lake: Lake) -> tuple[float, float]:
    """Median and lowest share of each kept document's raw words still in its cleaned text."""
    raw = {}
    for spec in RAW_DOCUMENT_TABLES.values():
        raw.update({row["id"]: len(row["content"].split()) for row in lake.read(spec, columns=["id", "content"]).iter_rows(named=True)})
    shares = sorted(
        row["word_count"] / raw[row["id"]]
        for row in lake.read(CLEANED_DOCUMENTS, columns=["id", "word_count"]).iter_rows(named=True)
        if raw.get(row["id"])
    )
    return shares[len(shares) // 2], shares[0]


REPEATED_LINE_MIN_DOCUMENTS = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"][
    "repeated_line_min_documents"
]
RETRIEVAL_SAMPLE = 150  # posts: about 3,000 chunks, a few minutes of all-MiniLM-L6-v2 on 2 cores
_DAY_PREFIX = re.compile(r"^day \d+\s*", re.IGNORECASE)  # "Day 049 ...": the topic, not the day, is the query


def repeated_lines(documents: list[dict]) -> dict[tuple[str, str], list[str]]:
    """The edge lines in enough documents of one author and platform, found as int_documents finds them."""
    counts = Counter((d["author_id"], d["platform"], line) for d in documents for line in edge_lines(d["text"]))
    found = defaultdict(list)
    for (author, platform, line), documents_with_it in counts.items():
        if documents_with_it >= REPEATED_LINE_MIN_DOCUMENTS:
            found[(author, platform)].append(line)
    return found


def prose_documents(lake: Lake) -> list[dict]:
    """Raw articles and posts with their staged text (what the staging models make of them)."""
    rows = []
    for spec in RAW_DOCUMENT_TABLES.values():
        for row in lake.read(spec).iter_rows(named=True):
            if row["category"] in PROSE_CATEGORIES:
                rows.append({**row, "text": clean_text(row["content"], row["category"])})
    return rows


def rule_report(lake: Lake) -> None:
    """Lines each rule removes, and the repeated lines at the edges of pieces that stay."""
    documents = prose_documents(lake)
    removed = sum((removals_by_rule(d["content"]) for d in documents), Counter())
    repeated = repeated_lines(documents)
    template, author = Counter(), Counter()
    for d in documents:
        for line in repeated_edge_lines(d["text"], repeated[(d["author_id"], d["platform"])]):
            (template if is_contact_line(line) else author)[normalize_line(line)] += 1
    removed["repeated_template"] = sum(template.values())
    print(f"  lines removed by rule, {len(documents)} articles and posts: {dict(removed.most_common())}")
    print(f"  repeated edge lines (in >= {REPEATED_LINE_MIN_DOCUMENTS} pieces) kept as the author's: "
          f"{sum(author.values())} lines, {len(author)} distinct")
    for line, count in author.most_common(8):
        print(f"    {count:>5}  {line}")


def first_own_rank(scores: np.ndarray, owners: np.ndarray, document_id: str) -> int:
    """1-based rank of the best-scoring chunk of `document_id`."""
    return int(np.flatnonzero(owners[np.argsort(-scores)] == document_id)[0]) + 1


def retrieval_report(lake: Lake, sample: int) -> None:
    """Recall@5 and MRR of title queries against chunks cut from the cleaned text as it is, and
    with the author's repeated openings and closings left out."""
    documents = sorted(
        (d for d in lake.read(CLEANED_DOCUMENTS).iter_rows(named=True) if d["category"] in PROSE_CATEGORIES),
        key=lambda d: d["url"],
    )
    repeated = repeated_lines(documents)  # over every piece, as cleaning counts them
    picked = documents[:: max(1, len(documents) // sample)][:sample]
    embedder = Embedder()

    def left_out(d: dict) -> str:
        return remove_repeated_edge_lines(d["text"], repeated[(d["author_id"], d["platform"])], removable=lambda _: True)

    ways = {"repeated lines kept": lambda d: d["text"], "repeated lines left out": left_out}
    chunks = {
        way: [(d["id"], c) for d in picked for c in chunk_text(text_of(d), d["category"], embedder.count_tokens)]
        for way, text_of in ways.items()
    }
    started = time.perf_counter()
    unique = sorted({c for cut in chunks.values() for _, c in cut})  # chunks both ways share are embedded once
    vectors = dict(zip(unique, embedder.encode(unique), strict=True))
    queries = embedder.encode([_DAY_PREFIX.sub("", d["title"]) for d in picked])
    print(f"\n  retrieval, {len(picked)} posts, title queries ({len(unique)} chunks embedded in {time.perf_counter() - started:.0f} s)")
    print(f"  {'chunks':<26}{'count':>7}{'recall@5':>10}{'MRR':>8}")
    ranks = {}
    for way, cut in chunks.items():
        matrix = np.stack([vectors[c] for _, c in cut])
        owners = np.array([document_id for document_id, _ in cut])
        ranks[way] = np.array([first_own_rank(matrix @ q, owners, d["id"]) for q, d in zip(queries, picked, strict=True)])
        print(f"  {way:<26}{len(cut):>7}{np.mean(ranks[way] <= 5):>10.3f}{np.mean(1 / ranks[way]):>8.3f}")
    kept, left_out_ranks = ranks.values()
    print(f"  left out, per query: own post ranked higher {np.sum(left_out_ranks < kept)}, "
          f"lower {np.sum(left_out_ranks > kept)}, same {np.sum(left_out_ranks == kept)}")


def timed_build(root: Path) -> float:
    started = time.perf_counter()
    out = run_dbt(["build"], str(root), root / "warehouse", root / "dbt")
    if out.returncode != 0:
        raise SystemExit(f"dbt build failed:\n{out.stdout[-4000:]}")
    return time.perf_counter() - started


def clean_and_report(title: str, root: Path, languages: list[str]) -> None:
    lake = Lake(str(root))
    first = timed_build(root)
    version = lake.version(CLEANED_DOCUMENTS)
    summary = cleaning_summary(root / "warehouse")
    median, lowest = words_kept(lake)

    started = time.perf_counter()
    parameters = run_parameters(languages)
    reports = [validate(lake.read(spec), name, parameters) for name, spec in RAW_DOCUMENT_TABLES.items()]
    reports.append(validate(lake.read(CLEANED_DOCUMENTS), CLEANED_DOCUMENTS.name, parameters))
    validation_s = time.perf_counter() - started

    again = timed_build(root)
    print(f"\n{title}")
    print(f"  documents in: {summary.documents_in}; out: {summary.documents_out} {summary.kept_by_category}")
    print(f"  dropped: {summary.dropped_by_reason or 'none'}; kept pieces that were cross-posted: {summary.cross_posted}")
    for example in summary.dropped_examples[:5]:
        print(f"    {example['reason']:<24} {example['url']}")
    print(f"  raw words kept in cleaned text: median {median:.1%}, lowest {lowest:.1%}")
    rule_report(lake)
    for report in reports:
        state = "passed" if report.success else "FAILED:\n      " + report.summary().replace("\n", "\n      ")
        print(f"  expectations {report.suite:<18} {report.rows:>5} rows, {report.evaluated:>2} expectations {state}")
    print(f"  {'run':<28}{'seconds':>9}{'ratio':>8}")
    print(f"  {'dbt build':<28}{first:>9.2f}{1:>8.3f}")
    print(f"  {'dbt build, nothing new':<28}{again:>9.2f}{again / first:>8.3f}"
          f"  cleaned_documents version {version} -> {lake.version(CLEANED_DOCUMENTS)}")
    print(f"  {'expectations, 4 suites':<28}{validation_s:>9.2f}{validation_s / first:>8.3f}")


def main() -> int:
    args = bench_arguments(__doc__)
    with tempfile.TemporaryDirectory(prefix="twin-bench-") as work:
        work_dir = Path(work)
        rendered = collect_real_blog(args, work_dir / "real")
        if rendered is not None:
            clean_and_report(f"real-world blog: {rendered} posts served on 127.0.0.1", work_dir / "real", ["en"])
            retrieval_report(Lake(str(work_dir / "real")), RETRIEVAL_SAMPLE)

        demo = load_config(REPO_ROOT / "twin.yaml")
        Crawler(Lake(str(work_dir / "demo")), BENCH_OPTIONS).run(demo)
        clean_and_report("demo corpus (twin.yaml)", work_dir / "demo", [a.language for a in demo.authors])
    return 0


if __name__ == "__main__":
    sys.exit(main())
