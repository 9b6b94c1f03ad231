"""Opt-in check on real writing: runs when ../shared/realworld/blog-posts is present, skips otherwise."""

import sys

import pytest

from tests.conftest import REPO_ROOT
from twin_assets.collect.crawl import CrawlOptions, Crawler
from twin_assets.lake import RAW_ARTICLES
from twin_assets.settings import parse_config

sys.path.insert(0, str(REPO_ROOT / "bench"))
from collect_realworld import DEFAULT_POSTS, render_site, serve, word_retention  # noqa: E402

pytestmark = [
    pytest.mark.realworld,
    pytest.mark.skipif(not DEFAULT_POSTS.is_dir(), reason=f"no real-world posts at {DEFAULT_POSTS}"),
]


def test_real_blog_served_locally_is_collected_whole(tmp_path, policy, lake):
    posts = sorted(DEFAULT_POSTS.glob("*.md"))[::12]  # a spread across the year
    rendered = render_site(posts, tmp_path / "site")
    server, base = serve(tmp_path / "site")
    try:
        config = parse_config({"authors": [{"id": "real", "name": "Real", "sources": [f"{base}/feed.xml"]}]}, tmp_path)
        report = Crawler(lake, CrawlOptions(policy=policy)).run(config)
        again = Crawler(lake, CrawlOptions(policy=policy)).run(config)
    finally:
        server.shutdown()
    assert lake.read(RAW_ARTICLES).height == rendered and not report.error_kinds()
    median, _ = word_retention(tmp_path / "site", lake)
    assert median > 0.9
    assert again.by_source_kind()["web"]["not_modified"] == rendered  # Last-Modified answered with 304
