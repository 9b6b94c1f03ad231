"""Chunk boundaries and ids, counted in the embedding model's own tokens."""

import pytest

from twin_assets.features.chunking import ChunkBounds, chunk_document, chunk_id, chunk_text, language_of
from twin_assets.features.embedding import Embedder


@pytest.fixture(scope="module")
def count():
    return Embedder().count_tokens  # the tokenizer alone: no model weights are loaded


SENTENCES = [f"Sentence number {i} explains one more idea about idempotent pipelines and upserts." for i in range(30)]
ARTICLE = "\n\n".join(" ".join(SENTENCES[i : i + 5]) for i in range(0, 30, 5))


def test_article_chunks_stay_within_the_token_bound_and_keep_every_sentence(count):
    chunks = chunk_text(ARTICLE, "article", count, ChunkBounds(64, 20))
    assert len(chunks) > 3
    assert all(count(chunk) <= 64 for chunk in chunks)
    joined = " ".join(chunks)
    assert all(sentence in joined for sentence in SENTENCES)


def test_consecutive_article_chunks_overlap_by_whole_sentences(count):
    chunks = chunk_text(ARTICLE, "article", count, ChunkBounds(64, 20))
    for previous, following in zip(chunks, chunks[1:], strict=False):
        last_sentence = previous.split("\n\n")[-1].split(". ")[-1]
        assert following.startswith(last_sentence.rstrip(".")), (previous, following)


def test_paragraph_breaks_survive_inside_a_chunk(count):
    text = "First short paragraph.\n\nSecond short paragraph."
    assert chunk_text(text, "article", count) == [text]


def test_a_fenced_code_block_that_fits_is_never_cut(count):
    code = "```\ndef f(x):\n    return x\n\n\ndef g(y):\n    return y\n```"
    text = " ".join(SENTENCES[:6]) + "\n\n" + code + "\n\n" + " ".join(SENTENCES[6:12])
    chunks = chunk_text(text, "article", count, ChunkBounds(80, 0))
    assert sum(code in chunk for chunk in chunks) == 1


def test_a_post_that_fits_is_one_chunk_and_a_long_one_is_cut(count):
    post = "Unique keys. Not-null ids. Dates that are not in the future. 🧪"
    assert chunk_text(post, "post", count) == [post]
    assert len(chunk_text(" ".join(SENTENCES), "post", count, ChunkBounds(64))) > 1


def test_code_is_cut_at_definitions_with_indentation_intact(count):
    source = "\n\n".join(
        f"def step_{i}(rows):\n    \"\"\"Step {i} of the pipeline.\"\"\"\n    return [row for row in rows if row]" for i in range(6)
    )
    chunks = chunk_text(source, "repository", count, ChunkBounds(60), path="pipeline.py")
    assert all(chunk.startswith("def step_") for chunk in chunks)
    assert all(count(chunk) <= 60 for chunk in chunks)
    assert "    return [row for row in rows if row]" in chunks[0]


def test_a_definition_longer_than_a_chunk_is_cut_at_lines(count):
    body = "\n".join(f"    total += value_{i}" for i in range(80))
    chunks = chunk_text(f"def long():\n    total = 0\n{body}", "repository", count, ChunkBounds(50), path="long.py")
    assert len(chunks) > 1 and all(count(c) <= 50 for c in chunks)
    assert all(line.startswith("    total") for c in chunks[1:] for line in c.split("\n"))


def test_sql_is_cut_at_statements(count):
    sql = "\n".join(
        f"select order_id, count(*) as copies_{i}\nfrom orders\ngroup by order_id\nhaving count(*) > {i};" for i in range(8)
    )
    chunks = chunk_text(sql, "repository", count, ChunkBounds(40), path="checks.sql")
    assert all(chunk.startswith("select order_id") for chunk in chunks)


def test_language_of_paths():
    assert language_of("pkg/mod.py") == "python" and language_of("q.SQL") == "sql"
    assert language_of("README.md") is None and language_of(None) is None


def test_chunk_ids_are_stable_and_depend_on_document_and_text(count):
    first = chunk_document("doc-1", ARTICLE, "article", count, ChunkBounds(64))
    again = chunk_document("doc-1", ARTICLE, "article", count, ChunkBounds(64))
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert first[0].chunk_id == chunk_id("doc-1", first[0].text)
    assert first[0].chunk_id != chunk_document("doc-2", ARTICLE, "article", count, ChunkBounds(64))[0].chunk_id
    assert [c.chunk_index for c in first] == list(range(len(first)))


def test_empty_text_has_no_chunks(count):
    assert chunk_text("  \n\n ", "article", count) == []


def test_unchanged_documents_keep_their_chunks_with_their_current_title(count):
    import json

    import polars as pl

    from twin_assets.features.chunks import chunk_rows
    from twin_assets.lake.tables import CLEANED_DOCUMENT_SCHEMA, DOCUMENT_CHUNK_SCHEMA

    def documents(title):
        return pl.DataFrame([{
            "id": "doc-1", "author_id": "jane", "platform": "web", "category": "article", "url": "https://j.example/1",
            "title": title, "text": ARTICLE, "published_at": None, "crawled_at": None, "content_hash": "h1",
            "language": "en", "word_count": 1, "duplicate_urls": [], "metadata": json.dumps({}),
        }], schema=CLEANED_DOCUMENT_SCHEMA)

    bounds = ChunkBounds(64, 20)
    first, chunked = chunk_rows(documents("Old"), pl.DataFrame(schema=DOCUMENT_CHUNK_SCHEMA), count, "label", bounds)
    again, rechunked = chunk_rows(documents("New"), first, count, "label", bounds)
    assert chunked == 1 and rechunked == 0
    assert again["chunk_id"].to_list() == first["chunk_id"].to_list() and set(again["title"]) == {"New"}
    _, other_bounds = chunk_rows(documents("New"), first, count, "other label", bounds)
    assert other_bounds == 1  # new chunking settings cut again
