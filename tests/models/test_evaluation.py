"""The evaluation's pure parts: the test split, the rows per metric and category, and the gate."""

from datetime import datetime, timezone

import polars as pl
import pytest

from twin_assets.models.evaluation import (
    ALL,
    EvaluationSettings,
    GateSettings,
    HeldOutSplit,
    comparison,
    evaluation_frame,
    gate_failures,
    generation_scores,
    perplexity_rows,
    retrieval_rows,
    style_differences,
    style_rows,
)
from twin_assets.models.metrics import CopyIndex
from twin_assets.models.registry import production_stack
from twin_assets.models.style import style_profile

INSTRUCT = pl.DataFrame({
    "sample_id": ["s3", "s1", "s2", "s4"],
    "split": ["test", "test", "train", "test"],
    "instruction": ["Write about queues.", "Write about caches.", "Write about logs.", "Write a parser."],
    "output": ["Queues absorb bursts so workers can keep a steady pace.", "Caches trade memory for time.",
               "Logs tell you what happened.", "def parse(text):\n    return text.split()"],
    "category": ["article", "post", "post", "repository"],
    "document_id": ["d3", "d1", "d2", "d4"],
})


def test_the_held_out_split_is_the_held_out_rows_in_sample_order_and_can_be_capped():
    split = HeldOutSplit.of(INSTRUCT)
    assert split.sample_ids == ["s1", "s3", "s4"] and split.document_ids == ["d1", "d3", "d4"]
    assert split.by_category() == {ALL: [0, 1, 2], "post": [0], "article": [1], "repository": [2]}
    assert HeldOutSplit.of(INSTRUCT, limit=2).sample_ids == ["s1", "s3"]
    with pytest.raises(ValueError, match="no test samples"):
        HeldOutSplit.of(INSTRUCT.filter(pl.col("split") == "train"))


def test_generation_scores_cover_style_authorship_copying_and_task_fit_per_category():
    split = HeldOutSplit.of(INSTRUCT)
    training = ["Logs tell you what happened after the fact, when the pager is already ringing at night."]
    generations = ["Caches trade memory for time.",  # the author's answer word for word
                   "Logs tell you what happened after the fact, when the pager is already ringing.",  # copies 14 words
                   "```python\ndef parse(text):\n    return text.split()\n```"]
    rows = generation_scores("v1", "candidate", generations, split, training * 4, style_profile(training * 4),
                             CopyIndex(training), lambda texts: 0.75, EvaluationSettings(pool_words=5))
    table = {(r["metric"], r["category"]): r["value"] for r in rows}
    assert table[("rouge_l", "post")] == 1.0 and table[("length_ratio_error", "post")] == 0.0
    assert table[("memorisation_rate", ALL)] == pytest.approx(1 / 3)
    assert table[("python_parse_rate", "repository")] == 1.0 and ("python_parse_rate", "post") not in table
    assert table[("author_likeness", ALL)] == 0.75
    assert 0 <= table[("cosine_delta", ALL)] <= 2 and table[("style_profile_distance", ALL)] >= 0
    assert all(r["model"] == "v1" and r["role"] == "candidate" for r in rows)
    assert {m.removeprefix("style/"): v for (m, _), v in table.items() if m.startswith("style/")} == style_profile(generations)
    with pytest.raises(ValueError, match="2 generations for 3 test samples"):
        generation_scores("v1", "candidate", generations[:2], split, training, style_profile(training),
                          CopyIndex(training), lambda t: 0.5, EvaluationSettings())


def test_perplexity_and_retrieval_rows_are_per_category_and_overall():
    split = HeldOutSplit.of(INSTRUCT)
    rows = perplexity_rows("base", "base", lambda positions: 10.0 + len(positions), split)
    assert {(r["category"], r["value"], r["samples"]) for r in rows} == \
        {(ALL, 13.0, 3), ("post", 11.0, 1), ("article", 11.0, 1), ("repository", 11.0, 1)}
    ranked = [["d9", "d1"], ["d3"], ["d8", "d7"]]  # found second, found first, missed
    retrieval = {(r["metric"], r["category"]): r["value"] for r in retrieval_rows(ranked, split, k=2)}
    assert retrieval[("recall_at_k", ALL)] == pytest.approx(2 / 3) and retrieval[("mrr", ALL)] == pytest.approx(0.5)
    assert retrieval[("recall_at_k", "repository")] == 0.0 and retrieval[("mrr", "post")] == 0.5


def test_stored_rows_are_keyed_by_evaluation_model_metric_and_category():
    rows = perplexity_rows("v1", "candidate", lambda positions: 5.0, HeldOutSplit.of(INSTRUCT))
    frame = evaluation_frame(rows, "e1", 7, datetime(2026, 11, 26, tzinfo=timezone.utc))
    assert frame["row_id"].n_unique() == len(rows) and set(frame["evaluation"]) == {"e1"}
    assert set(frame["instruct_dataset_version"]) == {7}
    again = evaluation_frame(rows, "e2", 7, datetime(2026, 11, 26, tzinfo=timezone.utc))
    assert set(again["row_id"]).isdisjoint(frame["row_id"])


def table(**metrics):
    return {metric: values for metric, values in metrics.items()}


def test_the_gate_passes_a_candidate_that_beats_base_and_holds_up_against_production():
    scores = table(perplexity={"candidate": 10.0, "base": 20.0, "production": 10.2},
                   cosine_delta={"candidate": 0.3, "base": 0.8, "production": 0.31}, memorisation_rate={"candidate": 0.0})
    assert gate_failures(scores, GateSettings()) == []


def test_the_gate_names_each_failed_condition_with_its_numbers():
    scores = table(perplexity={"candidate": 19.9, "base": 20.0, "production": 12.0},
                   cosine_delta={"candidate": 0.9, "base": 0.8}, memorisation_rate={"candidate": 0.25})
    failures = gate_failures(scores, GateSettings(perplexity_margin=0.02))
    assert len(failures) == 4
    assert "perplexity 19.900 is not 2% below the base model's 20.000 (needs at most 19.600)" in failures
    assert any(f.startswith("style distance (Cosine Delta) 0.900 is not below the base model's 0.800") for f in failures)
    assert any(f.startswith("perplexity 19.900 is worse than production's 12.000") for f in failures)
    assert "memorisation 25.0% of generations copy a long training span (at most 5%)" in failures


def test_comparison_reads_one_category_by_role():
    rows = perplexity_rows("v1", "candidate", lambda positions: 4.0, HeldOutSplit.of(INSTRUCT))
    assert comparison(rows) == {"perplexity": {"candidate": 4.0}}
    assert comparison(rows, "post") == {"perplexity": {"candidate": 4.0}}


def test_production_history_rolls_back_further_each_time():
    history = [{"version": 1, "action": "promote"}, {"version": 2, "action": "promote"},
               {"version": 3, "action": "promote"}, {"version": 2, "action": "rollback"}]
    assert production_stack(history) == [1, 2]
    assert production_stack([*history, {"version": 1, "action": "rollback"}]) == [1]


def test_with_the_judge_on_the_candidate_must_be_taken_for_the_author_at_least_as_often_as_production():
    passing = table(judge_preference={"candidate": 0.5})
    assert gate_failures(passing, GateSettings()) == []
    [failure] = gate_failures(table(judge_preference={"candidate": 0.25}), GateSettings())
    assert "chosen in 25% of blind comparisons (at least 50%)" in failure


def test_style_differences_put_each_models_measures_against_the_authors():
    rows = [*style_rows("author", "author", {"sentence_words": 10.0, "emoji_per_100_words": 0.0, "comma": 2.0}, 40),
            *style_rows("v1", "candidate", {"sentence_words": 20.0, "emoji_per_100_words": 0.0, "comma": 2.0}, 3),
            *style_rows("base", "base", {"sentence_words": 5.0, "emoji_per_100_words": 4.0}, 3),
            *perplexity_rows("v1", "candidate", lambda positions: 5.0, HeldOutSplit.of(INSTRUCT))]
    assert style_differences(rows) == {
        "sentence_words": {"candidate": 0.5, "base": -0.5},  # twice the author's length, half of it
        "emoji_per_100_words": {"candidate": 0.0, "base": 1.0},  # the author never uses one
        "comma": {"candidate": 0.0},
    }
    assert style_differences([r for r in rows if r["role"] != "author"]) == {}  # nothing to compare with
    assert comparison(rows)["style/sentence_words"] == {"author": 10.0, "candidate": 20.0, "base": 5.0}
