"""Authorship verifier: fitted on made-up texts from two seeded writers, a punchy first-person
"author" and a long-winded formal "generic" one, and checked on texts it never saw."""

import random

import numpy as np
import pytest

from twin_assets.models.verifier import AuthorshipVerifier, author_likeness, verifier_auc

TOPIC = "pipeline table batch lake model query stream index data job".split()
AUTHOR_WORDS = "i my we honestly tiny shipped wild love it so just".split()
GENERIC_WORDS = "the of is to that it important consider ensure various approach overall additionally".split()
EMOJI = ["\U0001f680", "\U0001f605", "\U0001f525"]


def _author(seed: int, texts: int) -> list[str]:
    """Three to six short sentences, mostly exclaimed, pet words and an emoji now and then."""
    pick = random.Random(seed)
    result = []
    for _ in range(texts):
        sentences = []
        for _ in range(pick.randint(3, 6)):
            words = pick.choices(AUTHOR_WORDS * 2 + TOPIC + GENERIC_WORDS[:3], k=pick.randint(3, 7))
            sentence = " ".join(words).capitalize() + pick.choice("!!!.")
            sentences.append(sentence + (" " + pick.choice(EMOJI) if pick.random() < 0.4 else ""))
        result.append(" ".join(sentences))
    return result


def _generic(seed: int, texts: int) -> list[str]:
    """Two to four long sentences with commas, formal words, never an exclamation."""
    pick = random.Random(seed)
    result = []
    for _ in range(texts):
        sentences = []
        for _ in range(pick.randint(2, 4)):
            words = pick.choices(GENERIC_WORDS * 2 + TOPIC + AUTHOR_WORDS[:3], k=pick.randint(15, 25))
            words[pick.randint(4, 10)] += ","
            sentences.append(" ".join(words).capitalize() + ".")
        result.append(" ".join(sentences))
    return result


@pytest.fixture(scope="module")
def verifier() -> AuthorshipVerifier:
    return AuthorshipVerifier.fit(_author(seed=1, texts=40), _generic(seed=2, texts=40))


def test_held_out_author_and_generic_texts_are_told_apart(verifier):
    assert verifier_auc(verifier, _author(seed=11, texts=30), _generic(seed=12, texts=30)) > 0.9


def test_held_out_author_texts_score_clearly_higher_than_generic_ones(verifier):
    author_score = author_likeness(verifier, _author(seed=21, texts=30))
    generic_score = author_likeness(verifier, _generic(seed=22, texts=30))
    assert author_score > 0.7
    assert generic_score < 0.3


def test_a_new_text_in_the_authors_style_is_author_like_and_a_formal_one_is_not(verifier):
    author_like, formal = verifier.probabilities([
        "Honestly I shipped the tiny pipeline! Love it \U0001f680 We query so much data!",
        "It is important to consider that the various approach of the model, overall, is to ensure the data.",
    ])  # fmt: skip
    assert author_like > 0.5
    assert formal < 0.5


def test_probabilities_stay_strictly_between_zero_and_one_even_for_odd_texts(verifier):
    probabilities = verifier.probabilities(["", "!" * 1000, "the " * 500, "\U0001f680" * 50 + " i"])
    assert probabilities.shape == (4,)
    assert np.all((probabilities > 0) & (probabilities < 1))


def test_same_inputs_give_identical_probabilities():
    authors, generics, held_out = _author(3, 15), _generic(4, 15), _author(5, 5) + _generic(6, 5)
    first = AuthorshipVerifier.fit(authors, generics, vocabulary_size=50).probabilities(held_out)
    second = AuthorshipVerifier.fit(authors, generics, vocabulary_size=50).probabilities(held_out)
    assert np.array_equal(first, second)


def test_style_features_alone_separate_writers_who_use_the_same_words():
    # Both draw words alike; one writer exclaims and adds emoji, the other ends every sentence flat.
    def writer(seed: int, texts: int, excited: bool) -> list[str]:
        pick = random.Random(seed)
        end = "! \U0001f525 " if excited else ". "
        return [
            end.join(" ".join(pick.choices(TOPIC, k=5)) for _ in range(4)) + end.strip()
            for _ in range(texts)
        ]

    verifier = AuthorshipVerifier.fit(writer(1, 30, True), writer(2, 30, False), vocabulary_size=10)
    assert verifier_auc(verifier, writer(3, 20, True), writer(4, 20, False)) > 0.9
    weights = dict(zip(verifier.feature_names, verifier.weights, strict=True))
    assert weights["!_per_word"] > 0
    assert weights["emoji_per_word"] > 0
    assert weights["._per_word"] < 0


def test_vocabulary_is_the_most_frequent_words_of_both_sides_ties_alphabetical():
    # a: 3, then b, c, z once each: the tie between b, c and z goes to b.
    verifier = AuthorshipVerifier.fit(["z a b", "a"], ["c a"], vocabulary_size=2)
    assert verifier.vocabulary == ("a", "b")


def test_each_class_needs_texts_with_words():
    with pytest.raises(ValueError, match="at least one author text"):
        AuthorshipVerifier.fit([], ["some words"])
    with pytest.raises(ValueError, match="at least one other text"):
        AuthorshipVerifier.fit(["some words"], [])
    with pytest.raises(ValueError, match="author texts have no words"):
        AuthorshipVerifier.fit(["!!! \U0001f680", ""], ["some words"])
    with pytest.raises(ValueError, match="other texts have no words"):
        AuthorshipVerifier.fit(["some words"], ["..."])


def test_author_likeness_needs_texts(verifier):
    with pytest.raises(ValueError, match="at least one text"):
        author_likeness(verifier, [])
