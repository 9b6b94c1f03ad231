"""Stylometry: word tokens, pooling, Cosine Delta and the surface profile, on made-up texts whose
answers are worked out by hand."""

import random

import pytest

from twin_assets.models.style import (
    cosine_delta,
    pool_texts,
    profile_differences,
    profile_distance,
    style_profile,
    tokenize_words,
)


def test_words_are_lowercase_keep_inner_apostrophes_and_short_function_words():
    assert tokenize_words("Don't STOP, it\u2019s 2024's best\u2014I think 'so'. snake_case \U0001f44b") == [
        "don't", "stop", "it's", "2024's", "best", "i", "think", "so", "snake", "case",
    ]  # fmt: skip


def _text(words: int, tag: str) -> str:
    return " ".join([tag] * words)


def test_pools_close_once_they_reach_min_words_and_a_short_leftover_joins_the_last():
    texts = [_text(3, "a"), _text(4, "b"), _text(2, "c"), _text(5, "d"), _text(1, "e")]
    assert pool_texts(texts, min_words=5) == [
        "\n\n".join(texts[:2]),
        "\n\n".join(texts[2:]),
    ]


def test_a_text_of_exactly_min_words_is_a_pool_of_its_own():
    assert pool_texts([_text(5, "a"), _text(5, "b")], min_words=5) == [_text(5, "a"), _text(5, "b")]


def test_too_few_words_for_one_pool_give_one_pool_with_everything():
    assert pool_texts(["one two", "three"], min_words=10) == ["one two\n\nthree"]
    assert pool_texts([], min_words=10) == []
    with pytest.raises(ValueError, match="min_words must be at least 1"):
        pool_texts(["one"], min_words=0)


def test_cosine_delta_follows_the_documented_procedure_on_a_two_word_case():
    # Words a, b. Reference pools: a .75 / .50, candidate pool: a .25 (b the complement).
    # z of a: +c, 0, -c; of b: -c, 0, +c. Unit vectors: (1,-1)/√2, (0,0), (-1,1)/√2.
    # Reference mean (1,-1)/(2√2); gap = 3/(2√2) * (1,-1); |gap|²/2 = (9/4)/2 = 9/8.
    assert cosine_delta(["a a a b", "a a b b"], ["a b b b"], min_words=4) == pytest.approx(9 / 8)


def test_with_one_pool_a_side_any_difference_scores_two():
    assert cosine_delta(["a a a b"], ["a b b b"], min_words=4) == pytest.approx(2.0)


FUNCTION_WORDS = "i you we my the a of and to in it is that so just but".split()
TOPIC_WORDS = "pipeline table batch lake model query stream index".split()
# One made-up "author" leans on i / we / so / just, the other on the / of / that.
CHATTY = [12, 6, 9, 7, 3, 3, 2, 4, 3, 2, 4, 3, 1, 9, 8, 5]
FORMAL = [1, 1, 2, 1, 14, 8, 12, 7, 6, 6, 3, 6, 9, 1, 1, 2]


def _writer(weights: list[int], seed: int, texts: int) -> list[str]:
    pick = random.Random(seed)
    vocabulary, all_weights = FUNCTION_WORDS + TOPIC_WORDS, weights + [2] * len(TOPIC_WORDS)
    return [" ".join(pick.choices(vocabulary, all_weights, k=100)) + "." for _ in range(texts)]


def test_cosine_delta_is_zero_for_the_same_texts_and_small_for_the_same_author():
    author = _writer(CHATTY, seed=1, texts=40)
    same_author = cosine_delta(author, _writer(CHATTY, seed=2, texts=12), min_words=200)
    other_style = cosine_delta(author, _writer(FORMAL, seed=3, texts=12), min_words=200)
    assert cosine_delta(author, author, min_words=200) == 0.0
    assert same_author < 0.3 < 0.8 < other_style <= 2.0
    assert cosine_delta(author, _writer(CHATTY, seed=2, texts=12), min_words=200) == same_author  # deterministic


def test_cosine_delta_refuses_input_without_words():
    with pytest.raises(ValueError, match="at least one reference text and one candidate text"):
        cosine_delta([], ["some words"])
    with pytest.raises(ValueError, match="reference texts have no words"):
        cosine_delta(["... !!!"], ["some words"])
    with pytest.raises(ValueError, match="candidate texts have no words"):
        cosine_delta(["some words"], ["\U0001f680"])


# 10 words; sentences "We ship data, fast." "Why now?" "- tests: yes" "- docs — no!!" (the emoji-only
# line has no words); paragraphs of 6 and 4 words; 4 non-blank lines, 2 of them bullets; emoji:
# 🚀, 🎉, a waving hand with a skin tone, a flag, a zero-width-joined family = 5.
PROFILED = "We ship data, fast. Why now? \U0001f680\U0001f389\n\n- tests: yes\n- docs \u2014 no!!\n\U0001f44b\U0001f3fd \U0001f1eb\U0001f1f7 \U0001f468\u200d\U0001f469\u200d\U0001f467\n"


def test_style_profile_counts_a_small_text_exactly():
    assert style_profile([PROFILED]) == pytest.approx({
        "sentence_words": 2.5,
        "paragraph_words": 5.0,
        "commas_per_100_words": 10.0,
        "exclamations_per_100_words": 20.0,
        "questions_per_100_words": 10.0,
        "colons_semicolons_per_100_words": 10.0,
        "dashes_per_100_words": 10.0,
        "emoji_per_100_words": 50.0,
        "type_token_ratio": 1.0,
        "bullet_line_share": 0.5,
    })  # fmt: skip


def test_commas_and_colons_inside_numbers_and_links_are_not_punctuation():
    profile = style_profile(["Costs 1,000 at 10:30 via https://x.io, ok; well-known - sure"])
    words = 14  # costs 1 000 at 10 30 via https x io ok well known sure
    assert profile["commas_per_100_words"] == pytest.approx(100 / words)
    assert profile["colons_semicolons_per_100_words"] == pytest.approx(100 / words)
    assert profile["dashes_per_100_words"] == pytest.approx(100 / words)


def test_sentences_are_averaged_over_all_texts():
    assert style_profile(["One two three.", "Four five!"])["sentence_words"] == 2.5


def test_type_token_ratio_is_the_mean_over_full_100_word_windows():
    repeated = [f"w{i % 50}" for i in range(100)]  # 50 distinct in the first window
    distinct = [f"v{i}" for i in range(100)]  # 100 distinct in the second
    leftover = ["x"] * 50  # not a full window: left out
    assert style_profile([" ".join(repeated + distinct + leftover)])["type_token_ratio"] == 0.75


def test_style_profile_refuses_texts_without_words():
    with pytest.raises(ValueError, match="at least one word"):
        style_profile(["\U0001f680 !!!", ""])


def test_profile_distance_is_the_mean_relative_difference_over_shared_measures():
    author = {"a": 2.0, "b": 0.0, "c": 1.0}
    candidate = {"a": 1.0, "b": 0.0, "c": 1.0, "d": 5.0}
    assert profile_differences(author, candidate) == {"a": -0.5, "b": 0.0, "c": 0.0}  # the candidate writes less "a"
    assert profile_differences(candidate, author) == {"a": 0.5, "b": 0.0, "c": 0.0}
    assert profile_distance(author, candidate) == pytest.approx((0.5 + 0.0 + 0.0) / 3)
    assert profile_distance(author, author) == 0.0
    assert profile_distance({"emoji": 0.0}, {"emoji": 3.0}) == 1.0
    with pytest.raises(ValueError, match="no measure in common"):
        profile_distance({"a": 1.0}, {"b": 1.0})
