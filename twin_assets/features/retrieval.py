"""Retrieval over the vector index, shared by `twin search` and the service.

Embed the query (after optional expansion), fetch more candidates than asked for with the
filters applied in the index, keep each document's best chunk, diversify with maximal marginal
relevance, and hand back results with scores and source URLs. Reranking is a hook that a
later stage fills; by default it keeps the order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from twin_assets.features.index import Hit, VectorIndex

QueryExpansion = Callable[[str], list[str]]
Reranker = Callable[[str, list[Hit]], list[Hit]]

CANDIDATES_PER_RESULT = 4
MMR_LAMBDA = 0.7  # 1.0 is pure relevance, 0.0 pure diversity


@dataclass(frozen=True)
class SearchResult:
    chunk_id: str
    document_id: str
    url: str
    title: str | None
    category: str
    text: str
    score: float

    def as_dict(self) -> dict:
        return asdict(self)


def best_chunk_per_document(hits: list[Hit]) -> list[Hit]:
    """Hits sorted best first, one per document."""
    seen, kept = set(), []
    for hit in sorted(hits, key=lambda h: h.score, reverse=True):
        if hit.document_id not in seen:
            seen.add(hit.document_id)
            kept.append(hit)
    return kept


def mmr_indices(query: np.ndarray, vectors: np.ndarray, k: int, weight: float = MMR_LAMBDA) -> list[int]:
    """Maximal marginal relevance over unit vectors: the indices of up to `k` picks, each trading
    relevance to the query (`weight`) against similarity to the picks so far (1 - `weight`)."""
    relevance = vectors @ query
    chosen: list[int] = []
    remaining = list(range(len(vectors)))
    while remaining and len(chosen) < k:
        if chosen:
            redundancy = (vectors[remaining] @ vectors[chosen].T).max(axis=1)
        else:
            redundancy = np.zeros(len(remaining))
        scores = weight * relevance[remaining] - (1 - weight) * redundancy
        chosen.append(remaining.pop(int(np.argmax(scores))))
    return chosen


def mmr(query: np.ndarray, hits: list[Hit], k: int, weight: float = MMR_LAMBDA) -> list[Hit]:
    """The hits maximal marginal relevance picks, in pick order."""
    if len(hits) <= 1 or any(h.vector is None for h in hits):
        return hits[:k]
    return [hits[i] for i in mmr_indices(query, np.stack([h.vector for h in hits]), k, weight)]


class Retriever:
    def __init__(
        self, embed: Callable[[list[str]], np.ndarray], index: VectorIndex,
        expand: QueryExpansion | None = None, rerank: Reranker | None = None,
    ) -> None:
        self.embed = embed
        self.index = index
        self.expand = expand or (lambda query: [query])
        self.rerank = rerank or (lambda query, hits: hits)

    def search(self, query: str, k: int = 5, author_id: str | None = None, category: str | None = None) -> list[SearchResult]:
        if not query.strip():
            raise ValueError("the query is empty")
        if k < 1:
            raise ValueError("k must be at least 1")
        queries = self.expand(query)
        vectors = self.embed(queries)
        hits: list[Hit] = []
        for text, vector in zip(queries, vectors, strict=True):
            hits.extend(self.index.search(vector, k * CANDIDATES_PER_RESULT, author_id, category, query_text=text))
        query_vector = vectors.mean(axis=0)
        query_vector /= np.linalg.norm(query_vector) or 1.0
        picked = mmr(query_vector, best_chunk_per_document(hits), k)
        return [
            SearchResult(h.chunk_id, h.document_id, h.url, h.title, h.category, h.text, round(h.score, 4))
            for h in self.rerank(query, picked)
        ]
