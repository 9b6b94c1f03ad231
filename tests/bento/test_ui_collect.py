"""The Collect page in a real browser against the real service: a collection of the demo corpus runs
`twin collect --json` as a subprocess (a run in the Dagster instance under TWIN_HOME), the page
follows it to its outcome (new, changed and unchanged documents per table, errors by kind, a link
to the run), a second start while it runs is refused, and a second collection changes nothing.
Plus the folding of the command's JSON lines into what the page shows."""

from pathlib import Path

import pytest

from bento.settings import ServingSettings
from bento.ui.collect import collect_environment
from bento.ui.dashboards import collection_outcome, stages
from tests.bento.browser import needs_chromium, open_page, screenshot
from tests.bento.serving import AUTHOR, REPO_ROOT, serving

API_KEY = "ui-key"
DAGSTER_URL = "http://dagster.example:3000"
COLLECTION_TIMEOUT_MS = 150_000  # a Dagster run in a subprocess: tens of seconds on 2 cores


def jane_config(folder: Path) -> Path:
    """The demo corpus as the served author's (absolute paths), plus two sources that fail: an
    export archive that is not there and a page file that is not there."""
    demo = REPO_ROOT / "demo"
    config = folder / "twin.yaml"
    config.write_text(
        "authors:\n"
        f"  - id: {AUTHOR}\n"
        "    name: Jane Doe\n"
        "    sources:\n"
        f"      - {{kind: web, path: {demo}/blog/feed.xml}}\n"
        f"      - {{kind: substack_export, path: {demo}/exports/substack}}\n"
        f"      - {{kind: medium_export, path: {demo}/exports/medium}}\n"
        f"      - {{kind: linkedin_export, path: {demo}/exports/linkedin}}\n"
        f"      - {demo}/repositories/tidy-pipes\n"
        f"      - {demo}/repositories/sql-habits\n"
        f"      - {{kind: linkedin_export, path: {folder}/missing-linkedin.zip}}\n"
        f"      - {{kind: web, path: {folder}/missing-blog/feed.xml}}\n"
    )
    return config


# --- the command's events, folded ------------------------------------------------------------

EVENTS = [
    {"event": "preparing", "authors": ["jane"]},
    {"event": "started", "run_id": "r-1", "authors": ["jane"]},
    {"event": "step", "step": "raw_collection", "status": "started"},
    {"event": "table", "table": "raw_articles", "row_count": 23, "inserted": 20, "updated": 2, "unchanged": 1},
    {"event": "table", "table": "raw_posts", "row_count": 14, "inserted": 14, "updated": 0, "unchanged": 0},
    {"event": "errors", "table": "crawl_errors", "row_count": 2, "failed_this_run": 2, "cleared": 1,
     "errors_by_kind_this_run": {"http_404": 1, "missing_archive": 1}},
    {"event": "step", "step": "raw_collection", "status": "succeeded"},
    {"event": "step", "step": "raw_expectations", "status": "started"},
    {"event": "check", "asset": "raw_posts", "check": "expectations", "passed": True},
]


def test_events_fold_into_counts_per_table_errors_by_kind_and_stages():
    running = collection_outcome(EVENTS[:4])
    assert running["phase"] == "stored raw_articles" and running["run_id"] == "r-1" and not running["done"]
    assert running["tables"]["raw_articles"] == {"new": 20, "changed": 2, "unchanged": 1, "rows": 23, "removed": None}
    assert [s["state"] for s in running["stages"]] == ["done", "done", "active", "pending"]
    assert running["errors_stored"] is None  # not known yet

    finished = collection_outcome([*EVENTS, {"event": "done", "success": True, "run_id": "r-1",
                                              "errors_by_kind": {"http_404": 1, "missing_archive": 1}}])
    assert finished["done"] and finished["success"] and finished["phase"] == "finished"
    assert finished["totals"] == {"new": 34, "changed": 2, "unchanged": 1}
    assert finished["errors_by_kind"] == {"http_404": 1, "missing_archive": 1}
    assert finished["failed_sources"] == 2 and finished["errors_cleared"] == 1
    assert finished["checks"] == [{"name": "raw_posts · expectations", "passed": True}]
    assert {s["state"] for s in finished["stages"]} == {"done"}


def test_a_failure_marks_the_stage_it_happened_in():
    failed = collection_outcome([*EVENTS[:3], {"event": "done", "success": False, "error": "boom"}])
    assert failed["phase"] == "failed" and failed["error"] == "boom" and failed["success"] is False
    assert [s["state"] for s in failed["stages"]] == ["done", "failed", "pending", "pending"]
    # The command died before saying anything: the first stage failed.
    assert [s["state"] for s in stages(0, True, False)][0] == "failed"
    assert collection_outcome([])["phase"] == "starting"


def test_the_command_gets_the_services_home_and_no_dagster_home(monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", "/somewhere/else")
    monkeypatch.setenv("TWIN_CONFIG", "/configs/twin.yaml")
    env = collect_environment(type("Settings", (), {"home": "/data/twin"})())
    assert env["TWIN_HOME"] == "/data/twin" and env["TWIN_CONFIG"] == "/configs/twin.yaml"
    assert "DAGSTER_HOME" not in env
    monkeypatch.delenv("TWIN_DAGSTER_URL", raising=False)
    assert ServingSettings.from_env(author="jane").dagster_url == "http://127.0.0.1:3000"
    monkeypatch.setenv("TWIN_DAGSTER_URL", "https://dagster.example/")
    assert ServingSettings.from_env(author="jane").dagster_url == "https://dagster.example"  # run links append /runs/<id>


# --- the page, in a browser ------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_base_model):
    home = tmp_path_factory.mktemp("collect-home")
    config = jane_config(tmp_path_factory.mktemp("collect-config"))
    with serving(home, tiny_base_model, (), TWIN_CONFIG=str(config), TWIN_API_KEYS=API_KEY,
                 TWIN_DAGSTER_URL=DAGSTER_URL) as service:
        yield service, home


def _wait_until_done(page) -> str:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("collect-status")).not_to_have_text("running", timeout=COLLECTION_TIMEOUT_MS)
    return page.get_by_test_id("collect-status").inner_text()


def _count(page, name: str) -> int:
    return int(page.get_by_test_id(f"collect-{name}").inner_text())


@needs_chromium
def test_collecting_the_demo_corpus_from_the_page(served, chromium, request):
    from playwright.sync_api import expect

    service, home = served
    page = open_page(chromium, service)
    try:
        page.goto("/collect")
        assert page.get_by_text("No collection has run since the service started.").is_visible()
        assert page.locator("#author option").all_inner_texts() == ["Every author (1)", "Jane Doe (jane)"]
        page.select_option("#author", AUTHOR)
        page.get_by_role("button", name="Start collection").click()

        # Progress: the page says it runs, what it is doing and for how long, and follows it by itself.
        page.wait_for_url("**/collect")
        assert page.get_by_test_id("collect-status").inner_text() == "running"
        assert page.get_by_role("button", name="Start collection").is_disabled()
        page.locator("progress").wait_for()
        expect(page.get_by_test_id("collect-elapsed")).not_to_have_text("0 s", timeout=10_000)  # it counts
        screenshot(page, request, "1-running")

        # One collection at a time: a second start while this one runs is refused with a message.
        refused = page.request.post("/collect", form={"author": "all"})
        assert refused.status == 409 and "already running" in refused.text()

        assert _wait_until_done(page) == "finished", page.get_by_test_id("collect-error").all_inner_texts()
        assert page.get_by_test_id("collect-phase").inner_text() == "finished"
        first_new = _count(page, "new")
        assert first_new > 0 and _count(page, "unchanged") == 0
        tables = page.get_by_test_id("collect-tables")
        for name in ("raw_articles", "raw_posts", "raw_repositories"):
            assert tables.get_by_role("rowheader", name=name).is_visible()
        errors = page.get_by_test_id("collect-errors").inner_text()
        assert "missing_archive: 1" in errors and "http_404: 1" in errors
        link = page.get_by_test_id("collect-run")
        run_id = link.inner_text()
        assert link.get_attribute("href") == f"{DAGSTER_URL}/runs/{run_id}"
        assert page.get_by_text("raw_posts · expectations: passed").is_visible()
        assert not page.get_by_role("button", name="Start collection").is_disabled()
        screenshot(page, request, "2-finished")

        # The run is in the Dagster instance under TWIN_HOME, as a terminal `twin collect` would leave it.
        assert (home / "dagster" / "history" / "runs" / f"{run_id}.db").exists()

        # Again: nothing new, nothing changed; the same sources still fail.
        page.get_by_role("button", name="Start collection").click()
        page.wait_for_url("**/collect")
        assert _wait_until_done(page) == "finished"
        assert _count(page, "new") == 0 and _count(page, "changed") == 0 and _count(page, "unchanged") == first_new
        assert page.get_by_test_id("collect-run").inner_text() != run_id
        assert "missing_archive: 1" in page.get_by_test_id("collect-errors").inner_text()
        screenshot(page, request, "3-unchanged")

        status = page.request.get("/collect/status").json()
        assert status["status"] == "finished" and status["totals"]["unchanged"] == first_new
        assert page.errors == []
    finally:
        page.context.close()


@needs_chromium
def test_an_unknown_author_is_refused_and_nothing_starts(served, chromium):
    service, _ = served
    page = open_page(chromium, service)
    try:
        before = page.request.get("/collect/status").json()
        response = page.request.post("/collect", form={"author": "nobody"})
        assert response.status == 400 and "not an author in twin.yaml" in response.text()
        assert page.request.get("/collect/status").json().get("run_id") == before.get("run_id")
    finally:
        page.context.close()


def test_the_pages_import_no_dagster():
    import subprocess
    import sys

    code = ("import sys, bento.ui.collect, bento.ui.models, bento.ui.monitoring, bento.ui.dashboards; "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] == 'dagster'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
