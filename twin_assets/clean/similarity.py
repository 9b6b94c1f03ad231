"""Near-duplicate detection for cross-posted pieces: word shingles, a bottom-k sketch, Jaccard.

Comparing every pair of documents is quadratic, so each document gets a small sketch (the
k smallest hashes of its shingles). Two documents whose shingle sets overlap a lot share many
sketch values; only pairs that share several (int_documents.sql) are compared exactly.
"""

from __future__ import annotations

import hashlib
import re

_WORD = re.compile(r"\w+")
SHINGLE_WORDS = 4
SKETCH_SIZE = 16


def shingles(text: str | None, size: int = SHINGLE_WORDS) -> set[str]:
    """Overlapping runs of `size` words, lowercased; formatting and punctuation do not matter."""
    words = _WORD.findall((text or "").lower())
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def _hash(shingle: str) -> int:
    # Signed 63-bit so that DuckDB reads the values as BIGINT.
    return int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "big") >> 1


def sketch(text: str | None, size: int = SKETCH_SIZE) -> list[int]:
    """The `size` smallest shingle hashes: a fingerprint that similar texts share in part."""
    return sorted(_hash(s) for s in shingles(text))[:size]


def jaccard(left: str | None, right: str | None) -> float:
    """Shared shingles over all shingles: 1.0 for the same words in the same order, 0.0 for nothing shared."""
    a, b = shingles(left), shingles(right)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
