"""Can a classifier tell the author's texts from generic ones? An authorship verifier.

Trained on the author's own texts (label 1) against the base model's generic answers to the same
instructions (label 0), it scores any text with a probability of being "author-like". A twin
whose generations score like the author's held-out texts has picked up the voice; one that
scores like the base model has not. The verifier's own AUC on held-out texts shows first that
the two sides can be told apart at all, else its scores mean nothing.

A logistic regression on the rates of the most frequent words and a few surface habits: small,
deterministic and readable (each weight says which habit points to the author).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from twin_assets.models.metrics import roc_auc

# The sentence, bullet and emoji rules are style.py's, so both modules count the same habits.
from twin_assets.models.style import _BULLET, _EMOJI, _SENTENCE_BREAK, tokenize_words

# Counted as plain characters per word: the habits a reader notices (exclamations, dashes,
# asides in brackets, quotes) differ most between a person and a model's house style.
PUNCTUATION_MARKS = (",", ".", "!", "?", ":", ";", "-", "(", '"')
STYLE_FEATURES = (
    *(f"{mark}_per_word" for mark in PUNCTUATION_MARKS),
    "emoji_per_word",
    "log_sentence_words",
    "bullet_line_share",
)
_MAX_LOGIT = 30.0  # keeps a probability strictly inside (0, 1) for however odd a text


class AuthorshipVerifier:
    """A fitted logistic regression over standardised word rates and style features."""

    def __init__(
        self, vocabulary: Sequence[str], mean: np.ndarray, scale: np.ndarray, weights: np.ndarray, bias: float,
    ) -> None:
        self.vocabulary = tuple(vocabulary)
        self._columns = _columns(self.vocabulary)
        self._mean, self._scale = mean, scale
        self.weights, self.bias = weights, bias

    @classmethod
    def fit(
        cls,
        author_texts: Sequence[str],
        other_texts: Sequence[str],
        vocabulary_size: int = 500,
        l2: float = 1.0,
        epochs: int = 300,
        learning_rate: float = 0.5,
        seed: int = 0,
    ) -> AuthorshipVerifier:
        """Fit on the author's texts (1) against the other texts (0).

        The vocabulary is the `vocabulary_size` most frequent words over both sides, ties broken
        alphabetically: words the author avoids identify them as much as words they favour.
        Each class weighs half in the loss, so probabilities are for even odds whatever the
        ratio of texts. The L2 penalty `l2 / 2 * |w|^2` is against the summed loss, not the mean
        (the bias is not penalised), so it matters less as the training set grows. `learning_rate` is an upper
        bound on the step: it is capped at 1 / (the loss's smoothness), since hundreds of
        correlated word rates can make a fixed step overshoot and oscillate.
        """
        _check_class("author", author_texts)
        _check_class("other", other_texts)
        texts = [*author_texts, *other_texts]
        totals = sum((Counter(tokenize_words(text)) for text in texts), Counter())
        vocabulary = sorted(totals, key=lambda word: (-totals[word], word))[:vocabulary_size]
        unscaled = _raw_features(texts, _columns(vocabulary))
        mean, spread = unscaled.mean(axis=0), unscaled.std(axis=0)
        scale = np.where(spread > 0, spread, 1.0)  # a constant feature stays 0 after scaling
        features = (unscaled - mean) / scale
        labels = np.r_[np.ones(len(author_texts)), np.zeros(len(other_texts))]
        weights, bias = _gradient_descent(features, labels, l2, epochs, learning_rate, seed)
        return cls(vocabulary, mean, scale, weights, bias)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Probability, in (0, 1), that each text is the author's rather than generic."""
        features = (_raw_features(texts, self._columns) - self._mean) / self._scale
        return _sigmoid(features @ self.weights + self.bias)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """What each of `weights` is for: a positive weight points to the author."""
        return (*self.vocabulary, *STYLE_FEATURES)


def verifier_auc(verifier: AuthorshipVerifier, author_texts: Sequence[str], other_texts: Sequence[str]) -> float:
    """AUC of the verifier on held-out author texts against held-out other texts: 0.5 means it
    cannot tell them apart, and then no author-likeness score from it means anything."""
    return roc_auc(verifier.probabilities(author_texts), verifier.probabilities(other_texts))


def author_likeness(verifier: AuthorshipVerifier, texts: Sequence[str]) -> float:
    """Mean probability of being the author's over `texts`, e.g. a twin's generations."""
    if not texts:
        raise ValueError("author_likeness needs at least one text")
    return float(verifier.probabilities(texts).mean())


def _columns(vocabulary: Sequence[str]) -> dict[str, int]:
    return {word: column for column, word in enumerate(vocabulary)}


def _raw_features(texts: Sequence[str], columns: dict[str, int]) -> np.ndarray:
    """One row per text: the vocabulary's relative frequencies, then STYLE_FEATURES."""
    rows = np.zeros((len(texts), len(columns) + len(STYLE_FEATURES)))
    for row, text in zip(rows, texts, strict=True):
        words = tokenize_words(text)
        per_word = 1 / max(len(words), 1)  # a text with no words has all rates 0
        for word in words:
            column = columns.get(word)
            if column is not None:
                row[column] += per_word
        row[len(columns) :] = _style_features(text, per_word)
    return rows


def _check_class(name: str, texts: Sequence[str]) -> None:
    if not texts:
        raise ValueError(f"the verifier needs at least one {name} text")
    if not any(tokenize_words(text) for text in texts):
        raise ValueError(f"the {name} texts have no words")


def _style_features(text: str, per_word: float) -> list[float]:
    marks = [text.count(mark) * per_word for mark in PUNCTUATION_MARKS]
    sentence_words = [count for piece in _SENTENCE_BREAK.split(text) if (count := len(tokenize_words(piece)))]
    lines = [line for line in text.splitlines() if line.strip()]
    return [
        *marks,
        len(_EMOJI.findall(text)) * per_word,
        # Log: one rambling 80-word sentence should not stretch the scale for all the rest.
        float(np.log1p(np.mean(sentence_words))) if sentence_words else 0.0,
        sum(bool(_BULLET.match(line)) for line in lines) / len(lines) if lines else 0.0,
    ]


def _gradient_descent(
    features: np.ndarray, labels: np.ndarray, l2: float, epochs: int, learning_rate: float, seed: int,
) -> tuple[np.ndarray, float]:
    """Full-batch gradient descent on (summed log loss + `l2 / 2 * |w|^2`) / texts, the log loss
    reweighted so that each class counts as half the texts."""
    # Each class sums to weight 1/2, so the loss is a plain mean over texts when the classes are even.
    sample_weights = np.where(labels == 1, 0.5 / labels.sum(), 0.5 / (len(labels) - labels.sum()))
    # The log loss's curvature is at most 1/4 per unit weight; the bias is a column of ones.
    design_norm = np.linalg.norm(np.c_[features, np.ones(len(labels))] * np.sqrt(sample_weights)[:, None], 2)
    step = min(learning_rate, 1 / (design_norm**2 / 4 + l2 / len(labels)))
    # The loss is convex, so the seeded small start moves the result little; it fixes it exactly.
    weights = np.random.default_rng(seed).normal(scale=0.01, size=features.shape[1])
    bias = 0.0
    for _ in range(epochs):
        error = sample_weights * (_sigmoid(features @ weights + bias) - labels)
        weights -= step * (features.T @ error + l2 * weights / len(labels))
        bias -= step * error.sum()
    return weights, float(bias)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    # tanh form: no overflow in exp for large negative logits.
    return 0.5 * (1 + np.tanh(np.clip(logits, -_MAX_LOGIT, _MAX_LOGIT) / 2))
