"""Opt-in check on real writing: runs when ../shared/realworld/blog-posts is present, skips otherwise."""

import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.datasets.conftest import GENERIC_ANSWER
from twin_assets.clean.dbt_cli import run_dbt
from twin_assets.collect.crawl import CrawlOptions, Crawler
from twin_assets.datasets.instruct import build_instruct, withhold_personal_data
from twin_assets.datasets.preference import build_preference
from twin_assets.lake import CLEANED_DOCUMENTS, RAW_ARTICLES
from twin_assets.quality.expectations import run_parameters, validate

sys.path.insert(0, str(REPO_ROOT / "bench"))
from collect_realworld import DEFAULT_POSTS, served_blog, word_retention  # noqa: E402

pytestmark = [
    pytest.mark.realworld,
    pytest.mark.skipif(not DEFAULT_POSTS.is_dir(), reason=f"no real-world posts at {DEFAULT_POSTS}"),
]


def test_real_blog_served_locally_is_collected_whole(tmp_path, policy, lake):
    posts = sorted(DEFAULT_POSTS.glob("*.md"))[::12]  # a spread across the year
    with served_blog(posts, tmp_path) as (config, rendered):
        report = Crawler(lake, CrawlOptions(policy=policy)).run(config)
        again = Crawler(lake, CrawlOptions(policy=policy)).run(config)
    assert lake.read(RAW_ARTICLES).height == rendered and not report.error_kinds()
    median, _ = word_retention(tmp_path / "site", lake)
    assert median > 0.9
    assert again.by_source_kind()["web"]["not_modified"] == rendered  # Last-Modified answered with 304


def test_real_blog_is_cleaned_into_documents_and_datasets_that_pass_their_expectations(tmp_path, policy, lake):
    posts = sorted(DEFAULT_POSTS.glob("*.md"))[::6]
    with served_blog(posts, tmp_path) as (config, _):
        Crawler(lake, CrawlOptions(policy=policy)).run(config)
    home = tmp_path / "home"
    out = run_dbt(["build"], str(home), home / "warehouse", home / "dbt")
    assert out.returncode == 0, out.stdout[-3000:]
    raw, cleaned = lake.read(RAW_ARTICLES), lake.read(CLEANED_DOCUMENTS)
    assert cleaned.height >= 0.9 * raw.height
    raw_words = dict(zip(raw["id"], raw["content"].str.split(" ").list.len(), strict=True))
    kept = [words / raw_words[row_id] for row_id, words in zip(cleaned["id"], cleaned["word_count"], strict=True)]
    assert sorted(kept)[len(kept) // 2] > 0.9  # cleaning removes chrome, not the writing
    samples, _ = withhold_personal_data(build_instruct(cleaned))
    pairs, dropped = build_preference(samples, dict.fromkeys(samples["sample_id"], GENERIC_ANSWER * 8))
    assert samples.height > cleaned.height and pairs.height > 0.9 * samples.height, dropped
    tables = (("raw_articles", raw), ("cleaned_documents", cleaned), ("instruct_dataset", samples), ("preference_dataset", pairs))
    for table, frame in tables:
        report = validate(frame, table, run_parameters(["en"]))
        assert report.success, report.summary()
