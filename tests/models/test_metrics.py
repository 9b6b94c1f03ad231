"""Evaluation metrics on hand-made texts and rankings whose answers are worked out by hand."""

import pytest

from twin_assets.models.metrics import (
    CopyIndex,
    length_ratio,
    longest_copied_span,
    mean_reciprocal_rank,
    memorisation_rate,
    python_parses,
    recall_at_k,
    roc_auc,
    rouge_l,
)

TRAINING = [
    "I rebuilt the ingestion job last winter because the nightly batch kept timing out whenever the "
    "upstream export arrived late and half empty, so now every partition is loaded idempotently and "
    "replayed from the raw zone.",
    "Docs live at https://example.org/handbook/pipelines/ingestion/replay-from-raw.html for anyone curious.",
]
# Training words 8 to 22: 78 letters and 14 spaces.
PASTED = "because the nightly batch kept timing out whenever the upstream export arrived late and half"
PARAPHRASE = (
    "Last winter I rewrote our ingestion because the night batch often timed out when exports came in "
    "late; partitions now load idempotently."
)
LINK = "See https://example.org/handbook/pipelines/ingestion/replay-from-raw.html please."  # 1 word, 69 characters


def test_the_longest_copied_span_is_measured_in_characters_and_words():
    assert longest_copied_span(f"Honestly, {PASTED} the story differs today.", TRAINING) == (92, 15)
    assert longest_copied_span(PARAPHRASE, TRAINING) == (11, 2)  # "because the"
    assert longest_copied_span("nothing here overlaps", TRAINING) == (0, 0)
    assert longest_copied_span("anything", []) == (0, 0)


def test_copies_are_verbatim_up_to_whitespace_and_case_counts():
    assert longest_copied_span("xx beta\n  gamma\tdelta yy eta theta", ["alpha beta gamma delta", "zeta eta theta"]) == (16, 3)
    assert longest_copied_span("Beta gamma", ["alpha beta gamma"]) == (5, 1)


def test_a_copy_never_runs_across_two_training_texts():
    assert longest_copied_span("two three", ["one two", "three four"]) == (5, 1)


def test_the_longest_in_characters_and_in_words_may_be_different_spans():
    training = ["a b c d", "extraordinarily_long_token x"]
    assert longest_copied_span("a b c d extraordinarily_long_token", training) == (26, 4)


def test_the_index_finds_the_longest_copy_among_many_common_words():
    training = [" ".join(["the"] * 50 + ["rare", "words", "here"] + ["the"] * 5)]
    assert CopyIndex(training).longest_span(" ".join(["the"] * 7 + ["rare", "words"])) == (38, 9)
    assert CopyIndex(training).longest_span(" ".join(["the"] * 60)) == (50 * 4 - 1, 50)


def test_pasting_fifteen_training_words_is_memorised_and_paraphrasing_is_not():
    generations = [f"Honestly, {PASTED} the story differs today.", PARAPHRASE, LINK]
    assert memorisation_rate(generations, TRAINING) == pytest.approx(2 / 3)  # the paste, and the link by characters
    assert memorisation_rate([PARAPHRASE], TRAINING) == 0.0


def test_memorisation_thresholds_are_inclusive():
    training = ["a b c d e f g h i j k l m n"]
    twelve_words, eleven_words = "a b c d e f g h i j k l", "a b c d e f g h i j k"  # 23 and 21 characters
    assert memorisation_rate([twelve_words, eleven_words], training) == 0.5
    assert memorisation_rate([eleven_words], training, min_chars=21) == 1.0
    with pytest.raises(ValueError, match="at least one generation"):
        memorisation_rate([], training)


def test_rouge_l_is_the_f1_of_the_longest_common_subsequence():
    # LCS "the cat on the mat" = 5 of 6 words on each side.
    assert rouge_l("the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    # LCS 2 ("we ship" or "the model"): P = 2/5, R = 2/7, F1 = (8/35) / (24/35).
    assert rouge_l("we ship the model today", "today the model is what we ship") == pytest.approx(1 / 3)
    assert rouge_l("The cat.", "the cat") == 1.0
    assert rouge_l("", "the cat") == 0.0
    assert rouge_l("dog", "the cat") == 0.0


def test_length_ratio_counts_words_and_refuses_an_empty_reference():
    assert length_ratio("one two three", "one two three four five six") == 0.5
    with pytest.raises(ValueError, match="reference with at least one word"):
        length_ratio("one", " ... ")


def test_python_parses_with_or_without_a_surrounding_fence():
    assert python_parses("x = 1")
    assert python_parses("```python\ndef f():\n    return 1\n```")
    assert python_parses("```\nprint('hi')\n```\n")
    assert python_parses('path = "C:\\d"')  # an invalid escape warns but parses
    assert not python_parses("def f(:")
    assert not python_parses("```python\ndef f(:\n```")
    assert not python_parses("Here it is:\n```python\nx = 1\n```")  # prose around the fence
    assert not python_parses("```python\n```")
    assert not python_parses("")
    assert not python_parses("x = 1\0")


RANKINGS = [["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i"]]
RELEVANT = ["a", "f", "z"]  # found first, found third, missed


def test_recall_at_k_and_mrr_on_a_hand_made_ranking():
    assert recall_at_k(RANKINGS, RELEVANT, k=1) == pytest.approx(1 / 3)
    assert recall_at_k(RANKINGS, RELEVANT, k=2) == pytest.approx(1 / 3)
    assert recall_at_k(RANKINGS, RELEVANT, k=3) == pytest.approx(2 / 3)
    assert mean_reciprocal_rank(RANKINGS, RELEVANT) == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_retrieval_metrics_refuse_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="2 rankings for 3 relevant ids"):
        recall_at_k(RANKINGS[:2], RELEVANT, k=1)
    with pytest.raises(ValueError, match="at least one query"):
        mean_reciprocal_rank([], [])
    with pytest.raises(ValueError, match="k must be at least 1"):
        recall_at_k(RANKINGS, RELEVANT, k=0)


def test_roc_auc_counts_pairs_and_ties_as_half():
    assert roc_auc([3, 4], [1, 2]) == 1.0
    assert roc_auc([1, 2], [3, 4]) == 0.0
    assert roc_auc([1, 2], [1, 2]) == 0.5  # one win, one loss, two ties
    assert roc_auc([2], [1, 2, 3]) == 0.5
    assert roc_auc([0.9, 0.4], [0.5, 0.1, 0.4]) == pytest.approx(4.5 / 6)  # 3 wins + (1 win, 1 tie)
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        roc_auc([], [1.0])
