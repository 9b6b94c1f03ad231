"""The Write page in a real browser (Debian's Chromium through Playwright) against the real
service (`bentoml serve`, the tiny model): a draft streams in with its sources, is regenerated,
edited and accepted (the edit lands on its prompt log row and makes a feedback preference pair),
turned down with a reason; bad requests show their error; everything works from the keyboard."""

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from tests.bento.browser import needs_chromium, open_page, screenshot
from tests.bento.serving import REPO_ROOT, RunningService, serving
from twin_assets.lake import Lake
from twin_assets.lake.tables import PROMPT_LOGS

API_KEY = "ui-key"
PROMPT = "Write a LinkedIn post about when a team should build a dashboard, and the new scheduler"
# What the page measured for the tiny model, reported at the end of the module (-s shows it).
TIMINGS: list[tuple[str, dict]] = []

pytestmark = needs_chromium


def demo_config(folder: Path) -> Path:
    """The repository's twin.yaml (header comments included) with the demo paths made absolute."""
    text = (REPO_ROOT / "twin.yaml").read_text()
    text = re.sub(r"(path: |- )demo/", rf"\g<1>{REPO_ROOT}/demo/", text)
    target = folder / "twin.yaml"
    target.write_text(text)
    return target


@contextlib.contextmanager
def ui_service(tmp_path_factory, base_model: Path, name: str) -> Iterator[tuple[RunningService, Path, Path]]:
    """One real service for a module: a TWIN_HOME with the index and the tiny model promoted, and
    a twin.yaml of its own in a separate folder (so its history and exports are the test's)."""
    home = tmp_path_factory.mktemp(f"{name}-home")
    config = demo_config(tmp_path_factory.mktemp(f"{name}-config"))
    with serving(home, base_model, TWIN_CONFIG=str(config), TWIN_API_KEYS=API_KEY) as service:
        yield service, home, config


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_base_model):
    with ui_service(tmp_path_factory, tiny_base_model, "write") as running:
        yield running
    if TIMINGS:
        print("\nWrite page timings (tiny model, in the browser): "
              + "; ".join(f"{what}: first token {d['ttft']} ms, full draft {d['total']} ms ({d['pieces']} pieces, "
                          f"{len(d['text'])} characters)" for what, d in TIMINGS))


# Records every change of the draft: its length, and whether the first-token and total times were set yet.
WATCH_DRAFT = """() => {
  window.draftStates = [];
  const draft = document.getElementById('draft');
  new MutationObserver(() => window.draftStates.push({
    length: draft.textContent.length, ttft: draft.dataset.ttftMs ?? null, total: draft.dataset.totalMs ?? null,
    pieces: Number(draft.dataset.pieces || 0),
  })).observe(draft, {childList: true, characterData: true, subtree: true, attributes: true});
}"""


def wait_for_draft(page, timeout_ms: int = 90_000) -> dict:
    page.wait_for_function("() => document.getElementById('draft').dataset.totalMs !== undefined", timeout=timeout_ms)
    page.wait_for_function("() => !document.getElementById('write').disabled")
    return page.eval_on_selector("#draft", "d => ({text: d.textContent, trace: d.dataset.traceId, "
                                           "ttft: Number(d.dataset.ttftMs), total: Number(d.dataset.totalMs), "
                                           "pieces: Number(d.dataset.pieces)})")


def logged(home: Path, trace_id: str, ready, timeout_s: float = 20.0) -> pl.DataFrame:
    """The prompt_logs rows of `trace_id` once `ready(row)` holds (the writer flushes every 2 s)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lake = Lake(str(home))
        if lake.exists(PROMPT_LOGS):
            rows = lake.read(PROMPT_LOGS).filter(pl.col("trace_id") == trace_id)
            if rows.height and ready(rows.row(0, named=True)):
                return rows
        time.sleep(0.3)
    raise AssertionError(f"{trace_id} never reached prompt_logs in the expected state")


def test_a_draft_streams_in_with_its_sources_then_is_regenerated_edited_and_accepted(served, chromium, linked_page, request):
    from twin_assets.datasets.preference import FEEDBACK, feedback_pairs

    service, home, _ = served
    page = open_page(chromium, service)
    page.goto("/write")
    assert page.title() == "Write · LLM Twin"
    page.get_by_label("What should your twin write?").fill(PROMPT)
    page.get_by_label("Kind of piece").select_option(label="LinkedIn post")
    page.get_by_label("Length").select_option("500")
    page.get_by_label("Links to use as extra knowledge").fill(linked_page)
    page.evaluate(WATCH_DRAFT)
    # The tiny model samples: now and then it writes nothing (the page says to regenerate), or
    # only a word or two, which can reach the browser in one read; then it is asked again.
    for attempt in range(5):
        page.evaluate("window.draftStates = []")
        page.get_by_role("button", name="Regenerate" if attempt else "Write", exact=True).click()
        page.wait_for_function("() => document.getElementById('draft').dataset.ttftMs !== undefined || "
                               "document.getElementById('draft').dataset.totalMs !== undefined", timeout=90_000)
        screenshot(page, request, "write-streaming")
        first = wait_for_draft(page)
        # It streamed: the browser showed text, and the first-token time, before the draft was finished.
        states = page.evaluate("window.draftStates")
        partial = [s for s in states if s["length"] > 0 and s["ttft"] is not None and s["total"] is None]
        if first["text"].strip() and partial:
            break
        if not first["text"].strip():
            assert "wrote nothing this time" in page.locator("#timing").inner_text()
    screenshot(page, request, "write-done")
    assert partial, states[:5]
    assert partial[0]["length"] < len(first["text"]) and first["pieces"] > 1
    assert 0 < first["ttft"] <= first["total"]
    assert first["text"].strip() and len(first["trace"]) == 32
    assert re.search(r"First words after [\d.]+ m?s · whole draft after [\d.]+ m?s", page.locator("#timing").inner_text())
    assert page.locator("#model").inner_text() == "Written by twin-jane v1"
    TIMINGS.append(("long post with a link", first))

    # The sources: the author's post (the category filter keeps to posts) and the linked page, as links.
    items = page.locator("#sources li")
    kinds = {item.get_attribute("data-kind"): item for item in items.all()}
    assert set(kinds) == {"author", "link"}
    author_link = kinds["author"].get_by_role("link")
    assert author_link.inner_text() == "Before you build a dashboard"
    assert author_link.get_attribute("href") == "https://jane.example/dashboards"
    assert "the author's writing · relevance" in kinds["author"].inner_text()
    assert kinds["link"].get_by_role("link").get_attribute("href") == linked_page
    assert kinds["link"].get_by_role("link").inner_text() == "Scheduler release notes"
    assert "a page you linked" in kinds["link"].inner_text()

    # Regenerate: the same request again, a new draft with a new trace.
    for _ in range(4):
        page.get_by_role("button", name="Regenerate").click()
        expect_busy(page)
        second = wait_for_draft(page)
        assert second["trace"] != first["trace"]
        if second["text"].strip():
            break
        assert "wrote nothing this time" in page.locator("#timing").inner_text()
    assert second["text"].strip()
    TIMINGS.append(("regenerated", second))
    screenshot(page, request, "write-regenerated")

    # Edit then accept: the draft becomes a labelled text box holding it.
    page.get_by_role("button", name="Edit then accept").click()
    box = page.get_by_label("Your version of the draft")
    assert box.is_visible() and box.input_value() == second["text"]
    assert page.evaluate("document.activeElement.id") == "edited"
    edit = "Build the dashboard after the question is clear. Until then, a query and a paragraph do the job."
    box.fill(edit)
    screenshot(page, request, "write-edit")
    page.get_by_role("button", name="Accept", exact=True).click()
    status = page.locator("#feedback-status")
    status.filter(has_text="Accepted").wait_for()
    assert "train the next version of your twin" in status.inner_text()
    assert not box.is_visible() and page.locator("#draft").inner_text() == edit
    screenshot(page, request, "write-accepted")

    # The edit is on the request's prompt log row, and the next preference dataset gets its pair.
    rows = logged(home, second["trace"], lambda row: row["feedback_edited_text"] is not None)
    row = rows.row(0, named=True)
    assert row["feedback_rating"] == 1 and row["feedback_edited_text"] == edit
    assert row["prompt"] == PROMPT and row["category"] == "post" and row["links"] == [linked_page]
    assert row["answer"] == second["text"]
    pairs = feedback_pairs(rows)
    assert pairs.height == 1
    pair = pairs.row(0, named=True)
    assert (pair["prompt"], pair["chosen"], pair["rejected"], pair["source"]) == (PROMPT, edit, second["text"], FEEDBACK)
    assert page.errors == []


def expect_busy(page) -> None:
    """While writing, the Write button is disabled and the page says so (or the draft was already done)."""
    page.wait_for_function("() => document.getElementById('write').disabled || "
                           "document.getElementById('draft').dataset.totalMs !== undefined")


def test_thumbs_down_with_a_reason_lands_on_the_prompt_log(served, chromium, request):
    service, home, _ = served
    page = open_page(chromium, service)
    page.goto("/write")
    page.get_by_label("What should your twin write?").fill("Write about reruns")
    page.get_by_label("Kind of piece").select_option(label="Article section")
    page.get_by_label("Length").select_option("120")
    page.get_by_role("button", name="Write", exact=True).click()
    assert page.locator("#progress").inner_text() in ("writing…", "")
    draft = wait_for_draft(page)
    TIMINGS.append(("short article section", draft))
    page.get_by_role("button", name="Thumbs down", exact=True).click()
    assert page.get_by_role("button", name="Thumbs down", exact=True).get_attribute("aria-expanded") == "true"
    page.get_by_label("What is wrong with it?").fill("not my tone")
    screenshot(page, request, "write-thumbs-down")
    page.get_by_role("button", name="Send thumbs down").click()
    page.locator("#feedback-status").filter(has_text="Thanks").wait_for()
    row = logged(home, draft["trace"], lambda row: row["feedback_rating"] is not None).row(0, named=True)
    assert row["feedback_rating"] == -1 and row["feedback_reason"] == "not my tone"
    assert row["feedback_edited_text"] is None and row["category"] == "article"
    screenshot(page, request, "write-thumbs-down-sent")
    assert page.errors == []


def test_a_bad_request_shows_the_services_error_next_to_the_form(served, chromium, request):
    service, _, _ = served
    page = open_page(chromium, service)
    page.goto("/write")
    page.get_by_role("button", name="Write", exact=True).click()  # nothing to write about yet
    error = page.get_by_role("alert")
    assert error.inner_text() == "Write what the twin should write about first."
    assert page.get_by_label("What should your twin write?").get_attribute("aria-invalid") == "true"

    page.get_by_label("What should your twin write?").fill("Write about the cloud")
    page.get_by_label("Links to use as extra knowledge").fill("http://169.254.169.254/latest/meta-data")
    page.get_by_role("button", name="Write", exact=True).click()
    error.filter(has_text="cannot be used").wait_for()
    assert "http://169.254.169.254/latest/meta-data" in error.inner_text()
    assert page.locator("#result").is_hidden() and not page.locator("#write").is_disabled()
    screenshot(page, request, "write-error")
    # Chromium logs every 4xx response to the console; that one is expected, nothing else may be there.
    assert page.errors == ["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"]


def test_the_page_works_from_the_keyboard(served, chromium, request):
    service, _, _ = served
    page = open_page(chromium, service)
    page.goto("/write")
    page.locator("body").click(position={"x": 5, "y": 300})
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        order.append(focused)
        if focused == "write":
            break
    # The header's pages first, then the form top to bottom.
    assert order[-5:] == ["prompt", "category", "length", "links", "write"], order
    assert order[:5] == ["Write", "Sources", "Collect", "Models", "Monitoring"], order

    # Ctrl+Enter in the prompt writes.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "prompt"
    page.keyboard.type("Write about dashboards")
    page.keyboard.press("Control+Enter")
    draft = wait_for_draft(page)
    assert len(draft["trace"]) == 32
    assert page.get_by_label("What should your twin write?").input_value() == "Write about dashboards"  # no newline added

    # Enter on the focused Write button writes again; then the draft's actions follow in order.
    page.focus("#write")
    page.keyboard.press("Enter")
    again = wait_for_draft(page)
    assert again["trace"] != draft["trace"]
    page.focus("#write")
    actions = []
    for _ in range(3):
        page.keyboard.press("Tab")
        actions.append(page.evaluate("document.activeElement.id"))
    assert actions == ["regenerate", "edit", "thumbs-down"], actions

    # Thumbs down, a reason and Enter, all from the keyboard.
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "reason"
    page.keyboard.type("too long")
    page.keyboard.press("Enter")
    page.locator("#feedback-status").filter(has_text="Thanks").wait_for()
    screenshot(page, request, "write-keyboard")
    assert page.errors == []
