"""Collection benchmark on real writing and on the demo corpus.

Renders the Markdown posts of ../shared/realworld/blog-posts (or --posts DIR) to HTML
pages with an RSS feed, serves them from 127.0.0.1, and crawls them twice with the real
collector into a fresh lake: a full crawl, then a re-run where every page answers
304 Not Modified. Prints counts and times, and the re-run's time as a ratio of the full
crawl measured in the same run. Then times the bundled demo corpus the same way.

    .venv/bin/python bench/collect_realworld.py [--posts DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import functools
import html
import http.server
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
import time
from collections import Counter
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from twin_assets.collect.crawl import CrawlOptions, Crawler  # noqa: E402
from twin_assets.collect.http import FetchPolicy  # noqa: E402
from twin_assets.lake import CRAWL_ERRORS, RAW_DOCUMENT_TABLES, Lake  # noqa: E402
from twin_assets.settings import TwinConfig, load_config, parse_config  # noqa: E402

DEFAULT_POSTS = REPO_ROOT.parent / "shared" / "realworld" / "blog-posts"
BENCH_OPTIONS = CrawlOptions(policy=FetchPolicy(timeout_s=30, retries=1, backoff_s=0.1))
_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})-(.+)\.md$")


def render_site(posts: list[Path], site: Path) -> int:
    import markdown

    (site / "posts").mkdir(parents=True)
    items = []
    for post in posts:
        match = _NAME.search(post.name)
        if not match:
            continue
        day, slug = match.groups()
        title = slug.replace("-", " ").capitalize()
        body = markdown.markdown(post.read_text(encoding="utf-8"), extensions=["fenced_code", "tables"])
        (site / "posts" / f"{slug}.html").write_text(
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta property="article:published_time" content="{day}T00:00:00+00:00"></head>'
            f"<body><nav><a href='/'>Home</a></nav><article><h1>{html.escape(title)}</h1>{body}</article>"
            f"<footer>Thanks for reading</footer></body></html>",
            encoding="utf-8",
        )
        published = format_datetime(datetime.fromisoformat(day).replace(tzinfo=timezone.utc))
        items.append(f"<item><title>{html.escape(title)}</title><link>/posts/{slug}.html</link><pubDate>{published}</pubDate></item>")
    (site / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title><link>/</link>'
        + "".join(items) + "</channel></rss>",
        encoding="utf-8",
    )
    return len(items)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@contextmanager
def served_blog(posts: list[Path], work_dir: Path) -> Iterator[tuple[TwinConfig, int]]:
    """The posts rendered to a site served on 127.0.0.1, with a one-author config pointing at its feed."""
    rendered = render_site(posts, work_dir / "site")
    server, base = serve(work_dir / "site")
    try:
        yield parse_config({"authors": [{"id": "real", "name": "Real author", "sources": [f"{base}/feed.xml"]}]}, work_dir), rendered
    finally:
        server.shutdown()


def collect_real_blog(args: argparse.Namespace, root: Path) -> int | None:
    """Crawls the real posts, served locally, into a lake at `root`; how many posts, or None when absent."""
    if not args.posts.is_dir():
        print(f"(no real-world posts at {args.posts}; skipping that part)")
        return None
    with served_blog(sorted(args.posts.glob("*.md"))[: args.limit], root.parent / f"{root.name}-site") as (config, rendered):
        Crawler(Lake(str(root)), BENCH_OPTIONS).run(config)
    return rendered


def bench_arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=Path, default=DEFAULT_POSTS)
    parser.add_argument("--limit", type=int, default=None, help="only the first N posts")
    return parser.parse_args()


def crawl_twice(lake: Lake, config, options: CrawlOptions) -> list[dict]:
    rows = []
    for label in ("full crawl", "re-run, nothing new"):
        started = time.perf_counter()
        report = Crawler(lake, options).run(config)
        seconds = time.perf_counter() - started
        rows.append({
            "run": label,
            "seconds": seconds,
            "written": sum(r.written for r in report.tables.values()),
            "unchanged": sum(r.unchanged for r in report.tables.values()),
            "not_modified": sum(r.not_modified for r in report.sources),
            "errors": dict(Counter(f.kind for r in report.sources for f in r.failures)),
        })
    return rows


def word_retention(site: Path, lake: Lake) -> tuple[float, float]:
    """Median and minimum share of each page's article words found in the stored text."""
    from lxml import html as lxml_html

    stored = {row["url"].rsplit("/", 1)[-1]: row["content"] for row in lake.read(RAW_DOCUMENT_TABLES["raw_articles"]).iter_rows(named=True)}
    shares = []
    for page in sorted((site / "posts").glob("*.html")):
        article = lxml_html.fromstring(page.read_text(encoding="utf-8")).find(".//article")
        expected = Counter(re.findall(r"\w+", article.text_content().lower()))
        found = Counter(re.findall(r"\w+", stored.get(page.name, "").lower()))
        total = sum(expected.values())
        if total:
            shares.append(sum((expected & found).values()) / total)
    shares.sort()
    return shares[len(shares) // 2], shares[0]


def print_table(title: str, rows: list[dict], lake: Lake) -> None:
    stored = {name: lake.read(spec).height for name, spec in RAW_DOCUMENT_TABLES.items()}
    print(f"\n{title}")
    print(f"  stored rows: {stored}; open crawl_errors: {lake.read(CRAWL_ERRORS).height}")
    print(f"  {'run':<22}{'seconds':>9}{'written':>9}{'unchanged':>11}{'304s':>7}{'ratio':>8}  errors")
    base = rows[0]["seconds"]
    for row in rows:
        print(
            f"  {row['run']:<22}{row['seconds']:>9.2f}{row['written']:>9}{row['unchanged']:>11}"
            f"{row['not_modified']:>7}{row['seconds'] / base:>8.3f}  {row['errors']}"
        )


def main() -> int:
    args = bench_arguments(__doc__)
    with tempfile.TemporaryDirectory(prefix="twin-bench-") as work:
        work_dir = Path(work)
        if args.posts.is_dir():
            with served_blog(sorted(args.posts.glob("*.md"))[: args.limit], work_dir) as (config, rendered):
                lake = Lake(str(work_dir / "real"))
                rows = crawl_twice(lake, config, BENCH_OPTIONS)
            print_table(f"real-world blog: {rendered} Markdown posts rendered to HTML, served on 127.0.0.1", rows, lake)
            median, worst = word_retention(work_dir / "site", lake)
            print(f"  words of each page's article kept in raw_articles: median {median:.1%}, lowest {worst:.1%}")
        else:
            print(f"(no real-world posts at {args.posts}; skipping that part)")

        lake = Lake(str(work_dir / "demo"))
        rows = crawl_twice(lake, load_config(REPO_ROOT / "twin.yaml"), BENCH_OPTIONS)
        print_table("demo corpus (twin.yaml: a blog on disk, three export archives, two repositories)", rows, lake)
    return 0


if __name__ == "__main__":
    sys.exit(main())
