"""Retrieval over a real LanceDB index: filters, one result per document, diversity, hooks."""

import numpy as np
import pytest

from tests.features.test_index import row, vector
from twin_assets.features.index import Hit, LanceIndex
from twin_assets.features.retrieval import Retriever, best_chunk_per_document, mmr


def unit(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def hit(chunk_id: str, document_id: str, score: float, vec=None) -> Hit:
    return Hit(chunk_id, document_id, "jane", "article", "web", "u", None, "t", score, vec)


def test_best_chunk_per_document_keeps_the_top_chunk_of_each():
    hits = [hit("a1", "A", 0.5), hit("b1", "B", 0.7), hit("a2", "A", 0.9)]
    assert [h.chunk_id for h in best_chunk_per_document(hits)] == ["a2", "b1"]


def test_mmr_prefers_a_different_result_over_a_near_copy():
    query = unit([1, 0, 0])
    first, copy, different = unit([1, 0, 0]), unit([1, 0, 0]), unit([0.8, 0.6, 0])
    hits = [hit("x", "X", 1.0, first), hit("y", "Y", 1.0, copy), hit("z", "Z", 0.8, different)]
    assert [h.chunk_id for h in mmr(query, hits, 2, weight=0.3)] == ["x", "z"]
    assert [h.chunk_id for h in mmr(query, hits, 2, weight=1.0)] == ["x", "y"]  # pure relevance


@pytest.fixture
def index(tmp_path):
    store = LanceIndex(str(tmp_path / "lance"))
    rows = [row("a"), {**row("a-second"), "document_id": "doc-a"}, row("b", category="post"), row("c", author="omar")]
    rows[0]["document_id"] = "doc-a"
    store.upsert(rows, np.stack([vector(r["chunk_id"]) for r in rows]), "m")
    return store


def embed_as(seed: str):
    return lambda texts: np.stack([vector(seed) for _ in texts])


def test_search_returns_one_result_per_document_with_url_and_score(index):
    results = Retriever(embed_as("a"), index).search("anything", k=5)
    assert results[0].chunk_id == "a" and results[0].url == "https://jane.example/a" and results[0].score == pytest.approx(1.0)
    assert len({r.document_id for r in results}) == len(results) == 3


def test_filters_reach_the_index(index):
    retriever = Retriever(embed_as("a"), index)
    assert {r.chunk_id for r in retriever.search("q", k=5, author_id="omar")} == {"c"}
    assert {r.category for r in retriever.search("q", k=5, category="post")} == {"post"}


def test_expansion_and_rerank_hooks_are_called(index):
    seen = {}

    def expand(query):
        seen["expanded"] = query
        return [query, query + " again"]

    def rerank(query, hits):
        seen["reranked"] = [h.chunk_id for h in hits]
        return list(reversed(hits))

    results = Retriever(embed_as("b"), index, expand=expand, rerank=rerank).search("q", k=2)
    assert seen["expanded"] == "q" and [r.chunk_id for r in results] == list(reversed(seen["reranked"]))


def test_bad_queries_are_refused(index):
    retriever = Retriever(embed_as("a"), index)
    with pytest.raises(ValueError, match="empty"):
        retriever.search("   ")
    with pytest.raises(ValueError, match="k must be"):
        retriever.search("q", k=0)
