import json

import pytest

from tests import pages
from tests.conftest import Route, author_config
from twin_assets.collect.articles import ArticleCollector, extract_article, known_feed_url
from twin_assets.collect.crawl import CrawlOptions, Crawler
from twin_assets.collect.http import Fetcher
from twin_assets.lake import CRAWL_ERRORS, RAW_ARTICLES


def test_extraction_keeps_paragraphs_lists_code_and_emoji():
    body = (
        f"<p>{pages.PARAGRAPH} 🚀</p><ul><li>first point</li><li>second point</li></ul>"
        "<pre><code>def check(rows):\n    for row in rows:\n        assert row['id']\n</code></pre>"
        f"<p>{pages.PARAGRAPH}</p>"
    )
    extracted = extract_article(pages.article("Keeping shape", body), "https://blog.example.com/a")
    assert extracted.title == "Keeping shape"
    assert "🚀" in extracted.text
    assert "- first point\n- second point" in extracted.text
    assert "def check(rows):\n    for row in rows:\n        assert row['id']" in extracted.text
    assert "\n\n" in extracted.text and "Footer text" not in extracted.text
    assert not extracted.text.startswith("# Keeping shape")
    assert extracted.published_at.isoformat().startswith("2025-03-01")


def test_known_feed_urls_for_medium_and_substack():
    assert known_feed_url("https://medium.com/@jane") == "https://medium.com/feed/@jane"
    assert known_feed_url("https://jane.substack.com/") == "https://jane.substack.com/feed"
    assert known_feed_url("https://jane.example.com/") is None


@pytest.mark.parametrize("feed", [pages.rss, pages.atom])
def test_feed_lists_articles(site, policy, feed):
    site.routes["/feed.xml"] = Route(body=feed([("/posts/a", "A"), ("/posts/b", "B")]), content_type="application/xml")
    with Fetcher(policy) as fetcher:
        entries, lone = ArticleCollector(fetcher).discover(site.url("/feed.xml"))
    assert [e.url for e in entries] == [site.url("/posts/a"), site.url("/posts/b")]
    assert lone is None and entries[0].title == "A"


def test_blog_page_advertises_its_feed(site, policy):
    site.routes["/"] = Route(body='<html><head><link rel="alternate" type="application/atom+xml" href="/atom"></head><body>hi</body></html>')
    site.routes["/atom"] = Route(body=pages.atom([("/p/1", "One")]), content_type="application/atom+xml")
    with Fetcher(policy) as fetcher:
        entries, _ = ArticleCollector(fetcher).discover(site.url("/"))
    assert [e.url for e in entries] == [site.url("/p/1")]


def test_single_article_url_is_collected_without_a_second_download(site, policy):
    site.routes["/one"] = Route(body=pages.article("Just one"))
    with Fetcher(policy) as fetcher:
        result = ArticleCollector(fetcher).collect("jane", site.url("/one"), {})
    assert [d.title for d in result.documents] == ["Just one"]
    assert len(site.hits("/one")) == 1


@pytest.fixture
def blog(site):
    """A feed whose entries cover what crawlers meet: good, redirected, broken and hostile pages."""
    paths = {
        "/posts/good": Route(body=pages.article("Good post", canonical="https://jane.example.com/good"), etag='"g1"'),
        "/posts/moved": Route(status=301, headers={"Location": "/posts/final"}),
        "/posts/final": Route(body=pages.article("Moved post")),
        "/posts/malformed": Route(body=pages.MALFORMED),
        "/posts/gone": Route(status=404),
        "/posts/broken": Route(status=500, body="oops"),
        "/posts/limited": Route(status=429, headers={"Retry-After": "0"}),
        "/posts/slow": Route(body=pages.article("Slow post"), delay_s=1.5),
        "/posts/challenge": Route(body=pages.BOT_CHALLENGE),
        "/posts/paywall": Route(body=pages.PAYWALL),
        "/posts/empty": Route(body=pages.EMPTY),
        "/posts/pdf": Route(body=b"%PDF-1.4 binary", content_type="application/pdf"),
        "/posts/huge": Route(body=pages.article("Huge", "<p>" + "word " * 80_000 + "</p>")),
    }
    site.routes.update(paths)
    site.routes["/feed.xml"] = Route(
        body=pages.rss([(p, p.rsplit("/", 1)[-1]) for p in paths if p != "/posts/final"]),
        content_type="application/rss+xml",
    )
    return site


def test_crawl_stores_good_articles_and_records_every_failure(blog, policy, lake):
    crawler = Crawler(lake, CrawlOptions(policy=policy))
    report = crawler.run(author_config(blog.url("/feed.xml")))

    stored = lake.read(RAW_ARTICLES)
    assert sorted(stored["title"]) == ["Broken markup", "Good post", "Moved post"]
    good = stored.filter(stored["title"] == "Good post").row(0, named=True)
    assert good["url"] == "https://jane.example.com/good"  # the canonical URL is the identity
    assert good["platform"] == "web" and good["category"] == "article" and good["author_id"] == "jane"
    assert json.loads(good["metadata"])["etag"] == '"g1"'
    moved = stored.filter(stored["title"] == "Moved post").row(0, named=True)
    assert moved["url"] == blog.url("/posts/final")

    errors = {row["url"].rsplit("/", 1)[-1]: row["kind"] for row in lake.read(CRAWL_ERRORS).iter_rows(named=True)}
    assert errors == {
        "gone": "http_404", "broken": "http_error", "limited": "rate_limited", "slow": "timeout",
        "challenge": "bot_challenge", "paywall": "paywall", "empty": "empty", "pdf": "not_html", "huge": "too_large",
    }
    assert report.by_source_kind()["web"]["documents"] == 3
    assert not any("Just a moment" in text or "paid subscribers" in text for text in stored["content"])


def test_rerun_is_idempotent_and_uses_conditional_requests(blog, policy, lake):
    crawler = Crawler(lake, CrawlOptions(policy=policy))
    crawler.run(author_config(blog.url("/feed.xml")))
    version = lake.version(RAW_ARTICLES)

    report = crawler.run(author_config(blog.url("/feed.xml")))
    assert lake.version(RAW_ARTICLES) == version
    assert report.tables["raw_articles"].written == 0
    assert lake.read(RAW_ARTICLES).height == 3
    assert blog.hits("/posts/good")[-1].headers.get("if-none-match") == '"g1"'
    assert report.by_source_kind()["web"]["not_modified"] == 1
    assert lake.read(CRAWL_ERRORS).height == 9  # still one row per failing source, not two


def test_changed_article_is_updated_and_recovered_source_leaves_crawl_errors(blog, policy, lake):
    crawler = Crawler(lake, CrawlOptions(policy=policy))
    crawler.run(author_config(blog.url("/feed.xml")))
    blog.routes["/posts/final"] = Route(body=pages.article("Moved post", "<p>" + pages.PARAGRAPH * 4 + " Revised.</p>"))
    blog.routes["/posts/gone"] = Route(body=pages.article("Back again"))

    report = crawler.run(author_config(blog.url("/feed.xml")))
    assert report.tables["raw_articles"].updated == 1 and report.tables["raw_articles"].inserted == 1
    stored = lake.read(RAW_ARTICLES)
    assert "Revised." in stored.filter(stored["title"] == "Moved post")["content"][0]
    assert "gone" not in {u.rsplit("/", 1)[-1] for u in lake.read(CRAWL_ERRORS)["url"]}
    assert report.errors_cleared == 1


def test_a_failing_source_loses_nothing_already_stored(blog, policy, lake):
    crawler = Crawler(lake, CrawlOptions(policy=policy))
    crawler.run(author_config(blog.url("/feed.xml")))
    before = lake.read(RAW_ARTICLES).sort("id")

    blog.routes["/feed.xml"] = Route(status=500, body="down")
    crawler.run(author_config(blog.url("/feed.xml")))
    assert lake.read(RAW_ARTICLES).sort("id").equals(before)
    errors = lake.read(CRAWL_ERRORS)
    assert errors.filter(errors["url"] == blog.url("/feed.xml"))["kind"].to_list() == ["http_error"]


def test_one_bad_source_does_not_stop_the_others(site, policy, lake):
    site.routes["/a"] = Route(body=pages.article("Survivor"))
    report = Crawler(lake, CrawlOptions(policy=policy)).run(
        author_config(site.url("/nowhere"), "http://127.0.0.1:9/refused", site.url("/a"))
    )
    assert lake.read(RAW_ARTICLES)["title"].to_list() == ["Survivor"]
    assert report.error_kinds() == {"connection": 1, "http_404": 1}
