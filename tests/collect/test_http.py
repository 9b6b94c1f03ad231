import pytest

from tests.conftest import Route
from twin_assets.collect.http import CrawlFailure, Fetcher


def test_retries_server_errors_with_backoff_then_succeeds(site, policy):
    site.routes["/flaky"] = [Route(status=500, body="boom"), Route(status=503, body="busy"), Route(body="ok")]
    with Fetcher(policy) as fetcher:
        page = fetcher.get(site.url("/flaky"))
    assert page.status == 200 and page.text == "ok"
    assert len(site.hits("/flaky")) == 3


def test_gives_up_after_retries_and_names_the_status(site, policy):
    site.routes["/down"] = Route(status=500, body="boom")
    with Fetcher(policy) as fetcher, pytest.raises(CrawlFailure) as failure:
        fetcher.get(site.url("/down"))
    assert failure.value.kind == "http_error" and "500" in failure.value.message
    assert len(site.hits("/down")) == policy.retries + 1


def test_rate_limit_is_retried_honouring_retry_after(site, policy):
    site.routes["/limited"] = [Route(status=429, headers={"Retry-After": "0"}), Route(body="finally")]
    with Fetcher(policy) as fetcher:
        assert fetcher.get(site.url("/limited")).text == "finally"
    site.routes["/always-limited"] = Route(status=429, headers={"Retry-After": "0"})
    with Fetcher(policy) as fetcher, pytest.raises(CrawlFailure) as failure:
        fetcher.get(site.url("/always-limited"))
    assert failure.value.kind == "rate_limited"


def test_not_found_is_not_retried(site, policy):
    with Fetcher(policy) as fetcher, pytest.raises(CrawlFailure) as failure:
        fetcher.get(site.url("/missing"))
    assert failure.value.kind == "http_404"
    assert len(site.hits("/missing")) == 1


def test_slow_page_times_out(site, policy):
    site.routes["/slow"] = Route(body="late", delay_s=1.5)
    with Fetcher(policy) as fetcher, pytest.raises(CrawlFailure) as failure:
        fetcher.get(site.url("/slow"))
    assert failure.value.kind == "timeout"


def test_huge_page_is_refused(site, policy):
    site.routes["/huge"] = Route(body="x" * (policy.max_bytes + 1))
    with Fetcher(policy) as fetcher, pytest.raises(CrawlFailure) as failure:
        fetcher.get(site.url("/huge"))
    assert failure.value.kind == "too_large"


def test_redirects_are_followed_and_the_final_url_kept(site, policy):
    site.routes["/old"] = Route(status=301, headers={"Location": "/new"})
    site.routes["/new"] = Route(body="moved here")
    with Fetcher(policy) as fetcher:
        page = fetcher.get(site.url("/old"))
    assert page.url == site.url("/new") and page.text == "moved here"


def test_robots_txt_is_respected_and_user_agent_sent(site, policy):
    site.routes["/robots.txt"] = Route(body="User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    site.routes["/private/page"] = Route(body="secret")
    site.routes["/public"] = Route(body="hello")
    with Fetcher(policy) as fetcher:
        assert fetcher.get(site.url("/public")).text == "hello"
        with pytest.raises(CrawlFailure) as failure:
            fetcher.get(site.url("/private/page"))
    assert failure.value.kind == "robots_disallowed"
    assert not site.hits("/private/page")
    assert site.hits("/public")[0].headers["user-agent"] == policy.user_agent
    assert len(site.hits("/robots.txt")) == 1  # cached per origin


def test_conditional_request_gets_not_modified(site, policy):
    site.routes["/post"] = Route(body="text", etag='"v1"')
    with Fetcher(policy) as fetcher:
        first = fetcher.get(site.url("/post"))
        second = fetcher.get(site.url("/post"), etag=first.etag)
    assert first.etag == '"v1"' and not first.not_modified
    assert second.not_modified and second.body == b""
    assert site.hits("/post")[1].headers["if-none-match"] == '"v1"'


def test_bot_challenge_status_is_classified(site, policy):
    from tests.pages import BOT_CHALLENGE

    site.routes["/guarded"] = Route(status=403, body=BOT_CHALLENGE)
    with Fetcher(policy) as fetcher, pytest.raises(CrawlFailure) as failure:
        fetcher.get(site.url("/guarded"))
    assert failure.value.kind == "bot_challenge"


def test_unsupported_scheme_is_a_clear_error(policy):
    with Fetcher(policy) as fetcher, pytest.raises(CrawlFailure) as failure:
        fetcher.get("ftp://127.0.0.1/feed")
    assert failure.value.kind == "bad_url"
