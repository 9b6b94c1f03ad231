"""Scores for a fine-tuned twin: does it copy its training data, match the author's answers,
write code that parses, and do retrieval and preference scores rank the right thing first?"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Sequence

import numpy as np

from twin_assets.models.style import tokenize_words

_SEPARATOR, _UNKNOWN = -1, -2  # token ids that never match: a copy cannot run across texts
_FENCED = re.compile(r"\A\s*```[^\n]*\n(.*?)\n?\s*```\s*\Z", re.DOTALL)


class CopyIndex:
    """The training texts as one array of token ids, searchable for the longest verbatim copy.

    Tokens are the whitespace-separated pieces of the text, case and punctuation kept, so a
    copy is verbatim up to whitespace and is measured in whole tokens. Build it once and reuse
    it across generations: indexing is the expensive part."""

    def __init__(self, training_texts: Sequence[str]) -> None:
        self._ids: dict[str, int] = {}
        corpus: list[int] = []
        for text in training_texts:
            corpus.extend(self._ids.setdefault(token, len(self._ids)) for token in text.split())
            corpus.append(_SEPARATOR)
        self._corpus = np.array(corpus or [_SEPARATOR], dtype=np.int64)
        self._positions = np.argsort(self._corpus, kind="stable")  # positions grouped by token
        self._sorted = self._corpus[self._positions]

    def longest_span(self, generated: str) -> tuple[int, int]:
        """(characters, words) of the longest run of `generated`'s tokens found verbatim in one
        training text; characters count single spaces between tokens. Both are 0 for no copy.
        The span with the most words need not have the most characters (one long URL), so each
        number is its own maximum over all copied spans."""
        tokens = generated.split()
        query = np.array([self._ids.get(token, _UNKNOWN) for token in tokens], dtype=np.int64)
        starts = np.searchsorted(self._sorted, query, side="left")
        occurrences = np.searchsorted(self._sorted, query, side="right") - starts
        most_chars = most_words = 0
        known = 0  # a copy of this many tokens is known to start here (matching statistics)
        for start in range(len(tokens)):
            length = self._match_length(query, start, known, starts, occurrences)
            if length:
                most_words = max(most_words, length)
                most_chars = max(most_chars, len(" ".join(tokens[start : start + length])))
            known = max(length - 1, 0)
        return most_chars, most_words

    def _match_length(
        self, query: np.ndarray, start: int, known: int, starts: np.ndarray, occurrences: np.ndarray,
    ) -> int:
        """Longest copy of query[start:], given that one of `known` tokens exists.

        Any copy longer than `known` holds every token of query[start : start + known + 1], so
        the rarest of them gives all candidate places; a long window nearly always holds a rare
        token, which keeps the candidates few even when the text is full of common words."""
        end = start + known + 1
        if end > len(query):
            return known
        anchor = start + int(np.argmin(occurrences[start:end]))
        if occurrences[anchor] == 0:
            return known
        candidates = self._positions[starts[anchor] : starts[anchor] + occurrences[anchor]] - (anchor - start)
        candidates = candidates[candidates >= 0]
        length = 0
        while start + length < len(query) and candidates.size:
            candidates = candidates[self._corpus[candidates + length] == query[start + length]]
            length += bool(candidates.size)  # every text ends in a separator, so this stays in bounds
        return max(length, known)


def longest_copied_span(generated: str, training_texts: Sequence[str]) -> tuple[int, int]:
    """(characters, words) of the longest span of `generated` that appears verbatim, up to
    whitespace, in one of `training_texts`. For many generations, build a `CopyIndex` once."""
    return CopyIndex(training_texts).longest_span(generated)


def memorisation_rate(
    generations: Sequence[str], training_texts: Sequence[str], min_chars: int = 50, min_words: int = 12,
) -> float:
    """Share of generations that copy a training span of at least `min_words` words OR at least
    `min_chars` characters: a few long words (a URL, a code line) are as much a copy as many
    short ones."""
    if not generations:
        raise ValueError("memorisation_rate needs at least one generation")
    index = CopyIndex(training_texts)
    copied = 0
    for generated in generations:
        chars, words = index.longest_span(generated)
        copied += words >= min_words or chars >= min_chars
    return copied / len(generations)


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 on lowercase words: the longest common subsequence rewards the same words in
    the same order without asking for them to be adjacent. 0 when either side has no words."""
    candidate_words, reference_words = tokenize_words(candidate), tokenize_words(reference)
    if not candidate_words or not reference_words:
        return 0.0
    common = _longest_common_subsequence(candidate_words, reference_words)
    if not common:
        return 0.0
    precision, recall = common / len(candidate_words), common / len(reference_words)
    return 2 * precision * recall / (precision + recall)


def _longest_common_subsequence(first: list[str], second: list[str]) -> int:
    previous = [0] * (len(second) + 1)
    for word in first:
        current = [0]
        for j, other in enumerate(second):
            current.append(previous[j] + 1 if word == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def length_ratio(candidate: str, reference: str) -> float:
    """Candidate words per reference word: a twin that answers at twice the author's length is
    off in a way ROUGE barely shows. An empty reference is a data error, not a ratio."""
    reference_words = len(tokenize_words(reference))
    if not reference_words:
        raise ValueError("length_ratio needs a reference with at least one word")
    return len(tokenize_words(candidate)) / reference_words


def python_parses(code: str) -> bool:
    """Whether the text, without a surrounding Markdown code fence, is a Python module.

    Blank text is not: an answer with no code is not valid code."""
    fenced = _FENCED.match(code)
    source = fenced.group(1) if fenced else code
    if not source.strip():
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an invalid escape warns, yet the code runs
            ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):  # ValueError: null bytes
        return False
    return True


def recall_at_k(ranked_ids: Sequence[Sequence[str]], relevant: Sequence[str], k: int) -> float:
    """Share of queries whose relevant id is among their first `k` results."""
    _check_rankings(ranked_ids, relevant)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return sum(target in ranking[:k] for ranking, target in zip(ranked_ids, relevant, strict=True)) / len(relevant)


def mean_reciprocal_rank(ranked_ids: Sequence[Sequence[str]], relevant: Sequence[str]) -> float:
    """Mean of 1 / (1-based rank of the relevant id), 0 for a query that misses it."""
    _check_rankings(ranked_ids, relevant)
    reciprocal = [
        1 / (list(ranking).index(target) + 1) if target in ranking else 0.0
        for ranking, target in zip(ranked_ids, relevant, strict=True)
    ]
    return sum(reciprocal) / len(reciprocal)


def _check_rankings(ranked_ids: Sequence[Sequence[str]], relevant: Sequence[str]) -> None:
    if not relevant:
        raise ValueError("retrieval metrics need at least one query")
    if len(ranked_ids) != len(relevant):
        raise ValueError(f"{len(ranked_ids)} rankings for {len(relevant)} relevant ids: one of each per query")


def roc_auc(positive_scores: Sequence[float], negative_scores: Sequence[float]) -> float:
    """Probability that a random positive outscores a random negative, a tie counting half
    (the Mann-Whitney U statistic over all pairs)."""
    if not len(positive_scores) or not len(negative_scores):
        raise ValueError("roc_auc needs at least one positive and one negative score")
    positives = np.asarray(positive_scores, dtype=float)
    negatives = np.sort(np.asarray(negative_scores, dtype=float))
    below = np.searchsorted(negatives, positives, side="left")
    tied = np.searchsorted(negatives, positives, side="right") - below
    return float((below.sum() + tied.sum() / 2) / (len(positives) * len(negatives)))
