"""Cleaning benchmark on real writing and on the demo corpus.

Collects ../shared/realworld/blog-posts (served on 127.0.0.1 as in collect_realworld.py) and
the bundled demo corpus into fresh lakes, then for each:
- runs `dbt build` (the twin_dbt project: staging, int_documents, cleaned_documents) and reports
  documents in, out, dropped and why, and the words of each raw document kept after cleaning;
- validates the raw and cleaned tables with their Great Expectations suites;
- runs `dbt build` again with nothing new: the baseline of the ratio is the first build,
  measured in the same run, and cleaned_documents must keep its Delta version.

    .venv/bin/python bench/clean_realworld.py [--posts DIR] [--limit N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from collect_realworld import BENCH_OPTIONS, bench_arguments, collect_real_blog  # noqa: E402

from twin_assets.clean.dbt_cli import run_dbt  # noqa: E402
from twin_assets.clean.report import cleaning_summary  # noqa: E402
from twin_assets.collect.crawl import Crawler  # noqa: E402
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

        demo = load_config(REPO_ROOT / "twin.yaml")
        Crawler(Lake(str(work_dir / "demo")), BENCH_OPTIONS).run(demo)
        clean_and_report("demo corpus (twin.yaml)", work_dir / "demo", [a.language for a in demo.authors])
    return 0


if __name__ == "__main__":
    sys.exit(main())
