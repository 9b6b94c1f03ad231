"""The vector index contract, run against every backend that can run here, and incremental sync."""

import hashlib
import os
import time

import numpy as np
import pytest

from twin_assets.features.index import LanceIndex, WeaviateIndex, sync_index

DIM = 8


def vector(seed: str) -> np.ndarray:
    values = np.frombuffer(hashlib.sha256(seed.encode()).digest()[: DIM * 4], dtype=np.uint32).astype(np.float32)
    values -= values.mean()
    return values / np.linalg.norm(values)


def row(chunk_id: str, author: str = "jane", category: str = "article", text: str | None = None) -> dict:
    return {
        "chunk_id": chunk_id, "document_id": f"doc-{chunk_id}", "author_id": author, "category": category,
        "platform": "web", "url": f"https://jane.example/{chunk_id}", "title": chunk_id.upper(), "text": text or f"text of {chunk_id}",
    }


@pytest.fixture(params=["lancedb", "lancedb-query", "weaviate"])
def index(request, tmp_path):
    if request.param == "lancedb":
        yield LanceIndex(str(tmp_path / "lance"))  # searched in memory
        return
    if request.param == "lancedb-query":
        yield LanceIndex(str(tmp_path / "lance"), max_cached_rows=0)  # searched by LanceDB, as large tables are
        return
    url = os.environ.get("WEAVIATE_URL")
    if not url:
        pytest.skip("WEAVIATE_URL is not set: the Weaviate backend needs a real server")
    store = WeaviateIndex(url, collection=f"Test{tmp_path.name.replace('_', '')}"[:60], api_key=os.environ.get("WEAVIATE_API_KEY"))
    yield store
    store._client.collections.delete(store._name)
    store.close()


def test_upsert_search_and_scores(index):
    rows = [row(name) for name in ("a", "b", "c")]
    index.upsert(rows, np.stack([vector(r["chunk_id"]) for r in rows]), "model-1")
    assert index.count() == 3
    hits = index.search(vector("b"), k=2)
    assert hits[0].chunk_id == "b" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert hits[0].url == "https://jane.example/b" and hits[0].title == "B" and hits[0].text == "text of b"
    assert len(hits) == 2 and hits[0].score >= hits[1].score
    assert hits[0].vector is not None and hits[0].vector.shape == (DIM,)


def test_filters_by_author_and_category(index):
    rows = [row("a", "jane", "article"), row("b", "jane", "post"), row("c", "omar", "article")]
    index.upsert(rows, np.stack([vector(r["chunk_id"]) for r in rows]), "model-1")
    assert {h.chunk_id for h in index.search(vector("c"), k=5, author_id="jane")} == {"a", "b"}
    assert {h.chunk_id for h in index.search(vector("a"), k=5, category="article")} == {"a", "c"}
    assert [h.chunk_id for h in index.search(vector("a"), k=5, author_id="omar", category="post")] == []


def test_upsert_replaces_and_delete_removes(index):
    index.upsert([row("a")], vector("a")[None, :], "model-1")
    index.upsert([row("a", text="new text")], vector("a2")[None, :], "model-2")
    assert index.count() == 1 and [model for model, _ in index.stored().values()] == ["model-2"]
    assert index.search(vector("a2"), k=1)[0].text == "new text"
    assert index.delete(["a", "missing"]) == 1
    assert index.count() == 0 and index.stored() == {}
    assert index.search(vector("a"), k=3) == []


def test_an_index_never_written_is_empty(index):
    assert index.count() == 0 and index.stored() == {} and index.delete(["x"]) == 0


class CountingEmbedder:
    """Embeds deterministically and remembers what it was asked to embed."""

    def __init__(self):
        self.embedded: list[str] = []

    def __call__(self, texts):
        self.embedded.extend(texts)
        return np.stack([vector(t) for t in texts])


def test_sync_embeds_only_what_is_new_and_removes_what_is_gone(tmp_path):
    index, embed = LanceIndex(str(tmp_path / "lance")), CountingEmbedder()
    chunks = [row(name) for name in ("a", "b", "c")]
    assert sync_index(index, chunks, embed, "model-1").added == 3

    embed.embedded.clear()
    nothing = sync_index(index, chunks, embed, "model-1")
    assert (nothing.added, nothing.removed, nothing.reembedded) == (0, 0, 0) and embed.embedded == []

    changed = [row("a"), row("b"), row("c2", text="changed c")]  # c's document changed: new chunk id
    report = sync_index(index, changed, embed, "model-1")
    assert (report.added, report.removed, report.size) == (1, 1, 3) and embed.embedded == ["changed c"]


def test_a_changed_title_is_rewritten_without_counting_as_new(tmp_path):
    index, embed = LanceIndex(str(tmp_path / "lance")), CountingEmbedder()
    sync_index(index, [row("a"), row("b")], embed, "model-1")
    embed.embedded.clear()
    report = sync_index(index, [{**row("a"), "title": "A better title"}, row("b")], embed, "model-1")
    assert (report.added, report.updated, report.reembedded, report.removed) == (0, 1, 0, 0)
    assert embed.embedded == ["text of a"]
    assert index.search(vector("text of a"), k=1)[0].title == "A better title"


def test_a_new_model_reembeds_everything(tmp_path):
    index, embed = LanceIndex(str(tmp_path / "lance")), CountingEmbedder()
    chunks = [row(name) for name in ("a", "b")]
    sync_index(index, chunks, embed, "model-1")
    embed.embedded.clear()
    report = sync_index(index, chunks, embed, "model-2")
    assert (report.reembedded, report.added, report.size) == (2, 0, 2) and len(embed.embedded) == 2
    assert {model for model, _ in index.stored().values()} == {"model-2"}


def test_the_in_memory_copy_follows_writes(tmp_path):
    index = LanceIndex(str(tmp_path / "lance"))
    index.upsert([row("a")], vector("a")[None, :], "m")
    assert [h.chunk_id for h in index.search(vector("a"), k=5)] == ["a"]
    index.upsert([row("b")], vector("b")[None, :], "m")
    index.delete(["a"])
    assert [h.chunk_id for h in index.search(vector("a"), k=5)] == ["b"]


def test_another_writer_is_seen_within_the_freshness_window(tmp_path):
    reader, writer = LanceIndex(str(tmp_path / "lance")), LanceIndex(str(tmp_path / "lance"))
    writer.upsert([row("a")], vector("a")[None, :], "m")
    assert [h.chunk_id for h in reader.search(vector("b"), k=5)] == ["a"]
    writer.upsert([row("b")], vector("b")[None, :], "m")
    time.sleep(LanceIndex.FRESHNESS_S + 0.1)
    assert reader.search(vector("b"), k=1)[0].chunk_id == "b"
