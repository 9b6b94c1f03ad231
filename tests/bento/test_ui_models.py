"""The Models page in a real browser against the real service: two registered versions side by side
with their evaluation numbers and charts, their lineage; promote through the confirmation step
(the registry moves, the engine swaps to the new version by itself), roll back, and the messages
when there is nothing to roll back to or no such version. Plus the comparison's arithmetic."""

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import polars as pl
import pytest

from bento.ui.dashboards import authors_evaluations, comparison, comparison_charts, latest_scores, lineage
from tests.bento.browser import needs_chromium, open_page, screenshot
from tests.bento.serving import AUTHOR, serving
from twin_assets.lake import MODEL_EVALUATION, Lake
from twin_assets.models.evaluation import evaluation_frame, row
from twin_assets.models.registry import PRODUCTION, get_version_by_alias, production_history

API_KEY = "ui-key"
NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def version(number: int, twin_version: str, *aliases: str, **tags: str):
    return SimpleNamespace(version=number, aliases=aliases, tags={"twin_version": twin_version, **tags})


def evaluations(rows: list[dict], evaluation: str, at: datetime) -> pl.DataFrame:
    return evaluation_frame(rows, evaluation, 3, at)


def hand_written_evaluations() -> pl.DataFrame:
    """v1 scored as the candidate, then v2 as the candidate against v1 in production."""
    first = [row("v1 first", "candidate", "perplexity", 14.0), row("base-tiny", "base", "perplexity", 20.0),
             row("v1 first", "candidate", "cosine_delta", 0.9), row("base-tiny", "base", "cosine_delta", 1.2),
             row("v1 first", "candidate", "author_likeness", 0.55), row("base-tiny", "base", "author_likeness", 0.2)]
    second = [row("v2 second", "candidate", "perplexity", 11.5), row("v1 first", "production", "perplexity", 13.0),
              row("base-tiny", "base", "perplexity", 20.0),
              row("v2 second", "candidate", "cosine_delta", 0.7), row("v1 first", "production", "cosine_delta", 0.9),
              row("base-tiny", "base", "cosine_delta", 1.2),
              row("v2 second", "candidate", "author_likeness", 0.71), row("v1 first", "production", "author_likeness", 0.55),
              row("base-tiny", "base", "author_likeness", 0.2),
              row("v2 second", "candidate", "perplexity", 9.5, "post", 4), row("v1 first", "production", "perplexity", 12.5, "post", 4),
              row("retrieval", "retrieval", "recall_at_k", 0.8), row("verifier", "verifier", "verifier_auc", 0.93)]
    return pl.concat([evaluations(first, "e1", NOW - timedelta(days=2)), evaluations(second, "e2", NOW)])


# --- the comparison ---------------------------------------------------------------------------

def test_production_first_then_candidates_then_the_base_model_each_with_its_latest_numbers():
    versions = [version(1, "first", PRODUCTION), version(2, "second", "candidate")]
    table = comparison(versions, 1, hand_written_evaluations())
    assert [(c.label, c.kind) for c in table.columns] == [
        ("v1 first", "production"), ("v2 second", "candidate"), ("base-tiny", "base")]
    perplexity = table.row("perplexity")
    assert perplexity.values == (13.0, 11.5, 20.0)  # v1's later score (as production) wins over its first
    assert perplexity.best == 1 and not perplexity.higher_is_better
    likeness = table.row("author_likeness")
    assert likeness.higher_is_better and likeness.best == 1
    assert table.row("perplexity", "post").values == (12.5, 9.5, None)
    assert table.categories == ["all", "post"]
    assert table.shared == (("recall_at_k", "all", 0.8), ("verifier_auc", "all", 0.93))


def test_a_version_never_evaluated_has_a_column_without_numbers_and_no_best_of_one():
    versions = [version(1, "first", PRODUCTION), version(2, "second"), version(3, "third", "candidate")]
    table = comparison(versions, 1, hand_written_evaluations())
    assert [c.label for c in table.columns][:3] == ["v1 first", "v3 third", "v2 second"]  # newest first after production
    assert table.row("perplexity").values[1] is None
    lonely = comparison([version(1, "first")], None, evaluations([row("v1 first", "candidate", "mrr", 0.5)], "e", NOW))
    assert lonely.row("mrr").best is None and lonely.columns[0].kind == "version"
    assert comparison(versions, 1, MODEL_EVALUATION.empty()).rows == ()


def test_another_authors_evaluations_are_left_out():
    mine = hand_written_evaluations()
    theirs = evaluations([row("v1 other-author", "candidate", "perplexity", 3.0), row("base-big", "base", "perplexity", 4.0)],
                         "e-other", NOW)
    kept = authors_evaluations(pl.concat([mine, theirs]), [version(1, "first"), version(2, "second")])
    assert set(kept["evaluation"]) == {"e1", "e2"} and "base-big" not in set(kept["model"])
    assert latest_scores(kept).filter(pl.col("model") == "v1 first", pl.col("metric") == "perplexity",
                                      pl.col("category") == "all")["value"].to_list() == [13.0]


def test_one_bar_chart_per_metric_and_the_lineage_of_each_version():
    versions = [version(1, "first", PRODUCTION, base_model="tiny", **{"dataset.instruct_dataset": "3"}),
                version(2, "second", backend="axolotl", base_model="tiny", **{"dataset.instruct_dataset": "4"})]
    table = comparison(versions, 1, hand_written_evaluations())
    charts = comparison_charts(table)
    assert [title for title, _ in charts] == ["perplexity (lower is better)", "cosine_delta (lower is better)",
                                              "author_likeness (higher is better)"]
    assert all(svg.startswith("<svg") and "v2 second" in svg for _, svg in charts)
    assert ">post<" in charts[0][1]  # perplexity has a group per category
    assert lineage(table.columns) == [
        ("twin_version", ["first", "second"]), ("base_model", ["tiny", "tiny"]), ("backend", ["", "axolotl"]),
        ("dataset.instruct_dataset", ["3", "4"]),
    ]


# --- the page, in a browser ------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_base_model):
    home = tmp_path_factory.mktemp("models-home")
    Lake(str(home)).upsert(MODEL_EVALUATION, hand_written_evaluations())
    with serving(home, tiny_base_model, ("first", "second"), TWIN_API_KEYS=API_KEY) as service:
        yield service, home


def production(home) -> int:
    return get_version_by_alias(home, AUTHOR, PRODUCTION).version


@needs_chromium
def test_both_versions_side_by_side_with_numbers_charts_and_lineage(served, chromium, request):
    service, home = served
    page = open_page(chromium, service)
    try:
        page.goto("/models")
        assert page.get_by_test_id("served-now").inner_text() == "twin-jane v1"
        assert page.get_by_test_id("production-version").inner_text() == "v1"
        table = page.get_by_test_id("comparison")
        headers = table.locator("thead th").all_inner_texts()
        assert [h.split("\n")[0] for h in headers] == ["metric", "category", "v1 first", "v2 second", "base-tiny"]
        perplexity = table.locator('tr[data-metric="perplexity"][data-category="all"] td').all_inner_texts()
        assert perplexity == ["all", "13", "11.5 ★", "20"]
        assert table.locator('tr[data-metric="author_likeness"] td.best').inner_text() == "0.71 ★"
        assert page.get_by_text("recall_at_k 0.8").is_visible()
        charts = page.get_by_test_id("charts").locator("svg")
        assert charts.count() == 3 and charts.first.is_visible()
        lineage_rows = page.get_by_test_id("lineage").locator("tbody tr").all_inner_texts()
        assert any(r.startswith("twin_version") and "first" in r and "second" in r for r in lineage_rows)
        assert any(r.startswith("dataset.instruct_dataset") for r in lineage_rows)
        assert page.get_by_test_id("version-1").get_by_text("production").is_visible()
        assert page.get_by_test_id("version-2").get_by_text("candidate").is_visible()
        screenshot(page, request, "1-side-by-side")
        assert page.errors == []
    finally:
        page.context.close()


@needs_chromium
def test_promote_then_roll_back_through_the_confirmation(served, chromium, request):
    from playwright.sync_api import expect

    service, home = served
    page = open_page(chromium, service)
    try:
        page.goto("/models")
        page.get_by_test_id("promote-2").click()
        confirm = page.get_by_test_id("confirm")
        expect(confirm).to_contain_text("Promote version 2 to production?")
        expect(confirm).to_contain_text("Production moves from v1 to v2 second")
        assert production(home) == 1  # nothing moves before the confirmation
        screenshot(page, request, "2-confirm-promotion")
        page.get_by_label("Why (recorded with the move)").fill("reads more like Jane")
        page.get_by_test_id("confirm-button").click()

        page.wait_for_url("**/models?moved=promote&version=2")
        expect(page.get_by_test_id("models-notice")).to_contain_text("Version 2 was promoted to production.")
        assert production(home) == 2
        moved = production_history(home, AUTHOR)[-1]
        assert (moved["version"], moved["by"], moved["why"], moved["action"]) == (2, "web UI", "reads more like Jane", "promote")
        assert page.get_by_test_id("production-version").inner_text() == "v2"
        # The engine swaps by itself; the page follows it without a reload.
        expect(page.get_by_test_id("served-now")).to_have_text("twin-jane v2", timeout=30_000)
        expect(page.locator("#swap-note")).to_be_hidden()
        with service.client() as client:
            draft = client.post("/generate", json={"prompt": "Write about dashboards", "max_new_tokens": 4}).json()
        assert draft["model_version"] == "twin-jane v2"
        screenshot(page, request, "3-promoted")

        page.get_by_test_id("rollback").click()
        expect(page.get_by_test_id("confirm")).to_contain_text("Roll production back to version 1?")
        page.get_by_label("Why (recorded with the move)").fill("drafts got worse")
        page.get_by_test_id("confirm-button").click()
        page.wait_for_url("**/models?moved=rollback&version=1")
        expect(page.get_by_test_id("models-notice")).to_contain_text("Version 1 was rolled back into production.")
        assert production(home) == 1 and production_history(home, AUTHOR)[-1]["action"] == "rollback"
        expect(page.get_by_test_id("served-now")).to_have_text("twin-jane v1", timeout=30_000)
        screenshot(page, request, "4-rolled-back")
        assert page.errors == []

        # Production has held only v1 now: nothing to roll back to, and nothing moves.
        page.get_by_test_id("rollback").click()
        expect(page.get_by_test_id("models-error")).to_contain_text("has no earlier production version to roll back to")
        assert page.get_by_test_id("confirm").count() == 0
        screenshot(page, request, "5-nothing-to-roll-back")
        history = len(production_history(home, AUTHOR))
        posted = page.request.post("/models/rollback", form={"reason": "again"})
        assert posted.status == 409 and "nothing was moved" in posted.text()

        # No such version: a clear message, nothing moved, from the link and from a posted form alike.
        page.goto("/models/promote?version=99")
        expect(page.get_by_test_id("models-error")).to_contain_text("twin-jane has no version 99")
        posted = page.request.post("/models/promote", form={"version": "99", "reason": "typo"})
        assert posted.status == 404 and "has no version 99" in posted.text()
        # A move needs a reason.
        unexplained = page.request.post("/models/promote", form={"version": "2", "reason": " "})
        assert unexplained.status == 400 and "Say why" in unexplained.text()
        assert production(home) == 1 and len(production_history(home, AUTHOR)) == history
        screenshot(page, request, "6-unknown-version")
        # Chromium reports the refusals' status codes (409, 404) on the console; nothing else went wrong.
        assert [e for e in page.errors if "status of 409" not in e and "status of 404" not in e] == []
    finally:
        page.context.close()
