"""Keyphrases of a text, ranked with the embedding model (the KeyBERT recipe).

Candidates are word n-grams that neither start nor end with a stop word; the most frequent are
embedded with the text, and picked by similarity to it with maximal marginal relevance, so the
phrases name the text's topic without repeating each other.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from twin_assets.features.retrieval import mmr_indices

# texts -> unit-length vectors, one row per text (features.embedding.Embedder.encode)
Encode = Callable[[Sequence[str]], np.ndarray]

MAX_CANDIDATES = 24
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*[A-Za-z0-9]|[A-Za-z]")
_CODE = re.compile(r"^\s*```.*?^\s*```|`[^`\n]*`|https?://\S+", re.DOTALL | re.MULTILINE)
_PHRASE_BREAK = re.compile(r"[.,;:!?()\[\]\"“”…|/]|\s[-–—]\s|\n")  # a phrase never spans these
STOP_WORDS = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't could couldn't did didn't do does doesn't doing don't down during each even ever
every few for from further get gets got had hadn't has hasn't have haven't having he her here hers herself him
himself his how i if in into is isn't it it's its itself just let let's like made make makes many may me might
more most much must my myself need needs never new no nor not now of off often on once one only or other our
ours ourselves out over own really same say says see she should shouldn't so some still such than that that's
the their theirs them themselves then there there's these they they're thing things this those though through
to too two under until up upon us use used uses using very want was wasn't way we we're well were weren't what
what's when where which while who whom why will with within without won't would wouldn't yet you you're your
yours yourself yourselves
""".split())
CONNECTORS = frozenset({"of", "per", "for", "and", "in", "on", "to", "by"})


def candidates(text: str, max_words: int = 3, limit: int = MAX_CANDIDATES) -> list[str]:
    """The `limit` most frequent n-grams (earliest first among equals), as first written."""
    counts: Counter[str] = Counter()
    surface: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    position = 0
    for segment in _PHRASE_BREAK.split(_CODE.sub(" . ", text)):
        words = _WORD.findall(segment)
        for size in range(1, max_words + 1):
            for start in range(len(words) - size + 1):
                gram = words[start : start + size]
                lowered = [w.lower() for w in gram]
                if lowered[0] in STOP_WORDS or lowered[-1] in STOP_WORDS or (size == 1 and len(lowered[0]) < 3):
                    continue
                if any(w in STOP_WORDS and w not in CONNECTORS for w in lowered[1:-1]):
                    continue  # "changes were caught" is a clause, "cost per query" a phrase
                key = " ".join(lowered)
                counts[key] += 1
                surface.setdefault(key, " ".join(gram))
                first_seen.setdefault(key, position + start)
        position += len(words)
    ranked = sorted(counts, key=lambda k: (-counts[k] * len(k.split()) ** 0.5, first_seen[k]))
    return [surface[k] for k in ranked[:limit]]


def keyphrases(texts: Sequence[str], encode: Encode, top: int = 3, diversity: float = 0.5) -> list[list[str]]:
    """For each text, up to `top` of its candidates most similar to it, each as unlike the ones
    already picked as `diversity` asks. One encode call for all texts and candidates."""
    options = [candidates(text) for text in texts]
    vectors = encode([*texts, *(phrase for phrases in options for phrase in phrases)])
    picks: list[list[str]] = []
    offset = len(texts)
    for index, phrases in enumerate(options):
        vectors_of_phrases = vectors[offset : offset + len(phrases)]
        offset += len(phrases)
        picks.append([phrases[i] for i in mmr_indices(vectors[index], vectors_of_phrases, top, 1 - diversity)])
    return picks

