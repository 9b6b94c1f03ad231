"""Code is not a web page: raw_repositories is checked for what harms training data in source files
(binary, minified, secrets), not for the bot-challenge phrases a scraper's own code quotes."""

from datetime import datetime, timezone

import polars as pl
import pytest

from tests.conftest import author_config, git
from tests.documents import doc, frame
from tests.fake_secrets import SECRETS
from twin_assets.collect.crawl import CrawlOptions, Crawler
from twin_assets.lake import RAW_REPOSITORIES
from twin_assets.quality.expectations import load_suite, run_parameters, validate

PARAMETERS = run_parameters(["en"], now=datetime(2026, 1, 1, tzinfo=timezone.utc))
SCRAPER_CODE = '''"""Tell a bot challenge from the page we asked for."""

CHALLENGE_MARKERS = (
    "Just a moment...",
    "Checking your browser before accessing",
    "Attention Required! | Cloudflare",
    "Enable JavaScript and cookies to continue",
    "Verify you are human",
    "cf-chl-",
    "g-recaptcha",
)


def is_challenge(html: str) -> bool:
    return any(marker.lower() in html.lower() for marker in CHALLENGE_MARKERS)
'''
SCRAPER_TEST = '''from scraper.detect import is_challenge


def test_a_cloudflare_interstitial_is_a_challenge():
    page = "<title>Just a moment...</title><p>Checking your browser before accessing example.com.</p>"
    assert is_challenge(page)


def test_an_article_is_not():
    assert not is_challenge("<h1>On idempotent pipelines</h1>")
'''
SCRAPER_FILES = {
    "scraper/detect.py": SCRAPER_CODE,
    "tests/test_detect.py": SCRAPER_TEST,
    "tests/fixtures/not_found.txt": "404 Not Found\n\nnginx\n",
    "tests/fixtures/challenge.html": "<html><title>Attention Required! | Cloudflare</title></html>\n",
}


def scraper_repository(root):
    for name, text in SCRAPER_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git("init", "-q", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "first", cwd=root)
    return root


def test_a_scrapers_repository_passes_while_the_same_text_as_articles_fails(tmp_path, policy, lake):
    repo = scraper_repository(tmp_path / "scraper")
    Crawler(lake, CrawlOptions(policy=policy)).run(author_config(str(repo)))
    stored = lake.read(RAW_REPOSITORIES)
    assert sorted(stored["title"]) == sorted(SCRAPER_FILES)

    parameters = run_parameters(["en"])  # the rows were crawled just now
    report = validate(stored, "raw_repositories", parameters)
    assert report.success, report.summary()
    assert report.evaluated == len(load_suite("raw_repositories")["expectations"])

    as_articles = stored.with_columns(category=pl.lit("article"))
    failures = {f"{f.expectation}:{f.column}": f.examples for f in validate(as_articles, "raw_articles", parameters).failures}
    assert sorted(failures["expect_column_values_to_not_match_regex_list:content"]) == sorted(stored["id"])


CODE = "def add(a, b):\n    return a + b\n"
BAD_CONTENT = {
    **{name: (CODE + secret(), "private keys and tokens must never reach training data") for name, secret in SECRETS.items()},
    "nul-bytes": (CODE + "\x00\x00PK\x03\x04", "a binary file is not the author's writing"),
    "control-characters": (CODE + "\x01\x02\x03\x04\x05", "a binary file is not the author's writing"),
    "minified": ("var a=1;" * 500, "a minified or generated file is not the author's writing"),
}


@pytest.mark.parametrize(("content", "why"), BAD_CONTENT.values(), ids=BAD_CONTENT.keys())
def test_a_stored_file_that_should_have_been_skipped_fails_the_suite(content, why):
    good = doc("https://github.com/jane/tools#tools/core.py", CODE, category="repository", platform="github")
    bad = doc("https://github.com/jane/tools#tools/bad.py", content, category="repository", platform="github")
    report = validate(frame(good, bad), "raw_repositories", PARAMETERS)
    (failure,) = report.failures
    assert failure.column == "content" and failure.why == why and failure.examples == [bad["id"]]
    assert why in report.summary() and report.summary().startswith(failure.expectation)
