"""Does a model write like its author? Stylometry on the author's texts and the model's.

Two views, both comparing a candidate (generations) with a reference (the author's texts):

- Cosine Delta on the most frequent words: function words and pronouns are used unconsciously
  and steadily by an author, so their rates identify a style better than topic words do.
- A profile of surface habits (sentence and paragraph length, punctuation, emoji, vocabulary
  richness, bullet lists) that a reader notices and a fine-tune should pick up.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

DEFAULT_POOL_WORDS = 1500  # below a few thousand words Delta's word rates are mostly noise
TTR_WINDOW = 100

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_CURLY_APOSTROPHE = re.compile(r"[\u2018\u2019\u02bc]")
# A sentence ends at . ! ? or … followed by space, and at a line break: bullets and headings
# have no full stop but are not one sentence with what follows them.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?\u2026])\s+|\n")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_BULLET = re.compile(r"^\s*(?:[-*+\u2022\u25aa\u25e6\u2023]|\d{1,3}[.)])\s+\S")
# Emoji: the pictographic blocks, the older symbol and dingbat blocks that render as emoji, and
# flags (a pair of regional indicators). Skin tones, variation selectors and zero-width-joined
# parts belong to the emoji before them, so a family or a waving hand counts once.
_EMOJI_BASE = "[\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2b55]"
_EMOJI = re.compile(
    rf"(?:[\U0001f1e6-\U0001f1ff]{{2}}|{_EMOJI_BASE})(?:[\U0001f3fb-\U0001f3ff\ufe0f]|\u200d{_EMOJI_BASE})*"
)
# Commas, colons and semicolons count where they separate words, so 1,000 and https:// do not.
_PUNCTUATION = {
    "commas": re.compile(r",(?=\s|$)"),
    "exclamations": re.compile(r"!"),
    "questions": re.compile(r"\?"),
    "colons_semicolons": re.compile(r"[:;](?=\s|$)"),
    # A hyphen counts when spaced between words; inside a word it is spelling, at a line's
    # start a bullet.
    "dashes": re.compile(r"[\u2014\u2013]|(?<=\S[ \t])--?(?=[ \t])"),
}


def tokenize_words(text: str) -> list[str]:
    """Lowercase words: letters and digits, with apostrophes inside a word kept (don't, it's).

    Nothing is dropped: short function words and pronouns are the ones that carry style."""
    return [word.lower() for word in _WORD.findall(_CURLY_APOSTROPHE.sub("'", text))]


def pool_texts(texts: Sequence[str], min_words: int = DEFAULT_POOL_WORDS) -> list[str]:
    """Texts joined in order into pools of at least `min_words` words each.

    Posts and replies are far too short for word rates to mean anything one by one. A leftover
    shorter than `min_words` joins the last pool. When all the texts together have fewer than
    `min_words` words there is one pool with everything, which is then shorter than asked; no
    texts give no pools."""
    if min_words < 1:
        raise ValueError(f"min_words must be at least 1, got {min_words}")
    pools: list[str] = []
    current: list[str] = []
    current_words = 0
    for text in texts:
        current.append(text)
        current_words += len(tokenize_words(text))
        if current_words >= min_words:
            pools.append("\n\n".join(current))
            current, current_words = [], 0
    if current:
        if pools:
            pools[-1] = "\n\n".join([pools[-1], *current])
        else:
            pools.append("\n\n".join(current))
    return pools


def cosine_delta(
    reference_texts: Sequence[str],
    candidate_texts: Sequence[str],
    most_frequent: int = 300,
    min_words: int = DEFAULT_POOL_WORDS,
) -> float:
    """How far the candidate's style is from the reference's: 0 when the two cannot be told
    apart, up to 2 when every candidate pool leans the opposite way from every reference pool.

    The procedure (Cosine Delta, Evert et al. 2017, with the author and the candidate as the
    only two groups):

    1. Pool each side's texts with `pool_texts(texts, min_words)`.
    2. Take the `most_frequent` most frequent words of the reference texts (ties broken
       alphabetically, so the result is deterministic).
    3. For each pool, the relative frequency of each of those words (count / words in pool).
    4. z-score each word over all pools, reference and candidate: (f - mean) / std with the
       population std; a word with std 0 scores 0 everywhere.
    5. Scale each pool's z-vector to unit length (this is the "cosine" in Cosine Delta: only
       the direction of a pool's deviations counts, not how long the pool is).
    6. Return 1/2 * ||mean unit vector of the reference pools - mean unit vector of the
       candidate pools||^2.

    Step 6 is the mean cosine distance between a reference pool and a candidate pool, less the
    mean cosine distance within each side (an energy distance), so a candidate that varies the
    way the author varies scores near 0 and the same texts score exactly 0. It is the cosine
    distance between the two mean vectors when each side's pools agree perfectly. The plain
    cosine distance between the two sides' mean z-vectors cannot be used: the z-scores are
    centred on the mean of all pools, so the two means always point in opposite directions
    and their distance is always 2.

    With one pool on each side step 4 leaves nothing but the difference itself, and any
    difference scores 2: give each side several pools' worth of text. Scores depend a little
    on the number of pools (fewer pools, more noise), so compare candidates pooled alike.
    """
    reference_pools = pool_texts(reference_texts, min_words)
    candidate_pools = pool_texts(candidate_texts, min_words)
    if not reference_pools or not candidate_pools:
        raise ValueError("cosine_delta needs at least one reference text and one candidate text")
    reference_counts = [Counter(tokenize_words(pool)) for pool in reference_pools]
    candidate_counts = [Counter(tokenize_words(pool)) for pool in candidate_pools]
    reference_total = sum(reference_counts, Counter())
    if not reference_total:
        raise ValueError("the reference texts have no words")
    if not any(candidate_counts):
        raise ValueError("the candidate texts have no words")
    vocabulary = sorted(reference_total, key=lambda word: (-reference_total[word], word))[:most_frequent]
    frequencies = np.array(
        [[counts[word] / max(counts.total(), 1) for word in vocabulary] for counts in reference_counts + candidate_counts]
    )
    spread = frequencies.std(axis=0)
    z_scores = (frequencies - frequencies.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    lengths = np.linalg.norm(z_scores, axis=1, keepdims=True)
    directions = z_scores / np.where(lengths > 0, lengths, 1.0)
    gap = directions[: len(reference_pools)].mean(axis=0) - directions[len(reference_pools) :].mean(axis=0)
    return float(gap @ gap / 2)


def style_profile(texts: Sequence[str]) -> dict[str, float]:
    """Surface habits of a body of text, as rates that do not grow with its length.

    Sentences end at . ! ? … and at line breaks; paragraphs at blank lines; bullets are lines
    starting with -, *, +, • or a number and "." or ")". Type-token ratio is the mean over
    consecutive `TTR_WINDOW`-word windows (the raw ratio falls as a text grows); with fewer
    words than one window it is the ratio over all of them."""
    words = [word for text in texts for word in tokenize_words(text)]
    if not words:
        raise ValueError("style_profile needs texts with at least one word")
    per_100_words = 100 / len(words)
    sentences = _word_counts(piece for text in texts for piece in _SENTENCE_BREAK.split(text))
    paragraphs = _word_counts(piece for text in texts for piece in _PARAGRAPH_BREAK.split(text))
    lines = [line for text in texts for line in text.splitlines() if line.strip()]
    profile = {
        "sentence_words": float(np.mean(sentences)),
        "paragraph_words": float(np.mean(paragraphs)),
    }
    for name, pattern in _PUNCTUATION.items():
        profile[f"{name}_per_100_words"] = sum(len(pattern.findall(text)) for text in texts) * per_100_words
    profile["emoji_per_100_words"] = sum(len(_EMOJI.findall(text)) for text in texts) * per_100_words
    profile["type_token_ratio"] = _windowed_type_token_ratio(words)
    profile["bullet_line_share"] = sum(bool(_BULLET.match(line)) for line in lines) / len(lines)
    return profile


def _word_counts(pieces: Iterable[str]) -> list[int]:
    counts = (len(tokenize_words(piece)) for piece in pieces)
    return [count for count in counts if count]


def _windowed_type_token_ratio(words: list[str]) -> float:
    windows = [words[start : start + TTR_WINDOW] for start in range(0, len(words) - TTR_WINDOW + 1, TTR_WINDOW)]
    return float(np.mean([len(set(window)) / len(window) for window in windows or [words]]))


def profile_differences(author_profile: dict[str, float], other_profile: dict[str, float]) -> dict[str, float]:
    """Per measure both profiles have, (other - author) / max(|author|, |other|), 0 where both are 0.

    Dividing by the larger value puts every measure on the same -1..1 scale whatever its unit
    (words per sentence, emoji per 100 words), so no one measure dominates; -1 or 1 means one
    side never does what the other does, and the sign says which way the other side errs."""
    shared = sorted(author_profile.keys() & other_profile.keys())
    if not shared:
        raise ValueError("the two profiles have no measure in common")
    differences = {}
    for key in shared:
        author, other = author_profile[key], other_profile[key]
        larger = max(abs(author), abs(other))
        differences[key] = (other - author) / larger if larger else 0.0
    return differences


def profile_distance(author_profile: dict[str, float], candidate_profile: dict[str, float]) -> float:
    """Mean absolute difference of the two profiles, measure by measure (profile_differences): 0 is
    the author's habits exactly, 1 the opposite in every measure."""
    return float(np.mean([abs(d) for d in profile_differences(author_profile, candidate_profile).values()]))
