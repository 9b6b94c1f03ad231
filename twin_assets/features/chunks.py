"""Cleaned documents to chunk rows, reusing the chunks of documents that did not change."""

from __future__ import annotations

import json

import polars as pl

from twin_assets.features.chunking import ChunkBounds, TokenCounter, chunk_document
from twin_assets.lake.tables import DOCUMENT_CHUNK_SCHEMA


def chunk_rows(
    documents: pl.DataFrame, stored: pl.DataFrame, count: TokenCounter, chunking: str, bounds: ChunkBounds,
) -> tuple[pl.DataFrame, int]:
    """All chunk rows for `documents`, and how many documents had to be chunked. A document whose
    content_hash and chunking settings match what is stored keeps its stored chunks, with its
    current title and URL."""
    fresh = stored.filter(pl.col("chunking") == chunking).select("document_id", "document_hash").unique()
    known = dict(fresh.iter_rows())
    unchanged_ids = [d for d, h in documents.select("id", "content_hash").iter_rows() if known.get(d) == h]
    described = ["author_id", "platform", "category", "url", "title"]  # may change while the text does not
    kept = (
        stored.filter(pl.col("document_id").is_in(unchanged_ids) & (pl.col("chunking") == chunking))
        .drop(described)
        .join(documents.select(pl.col("id").alias("document_id"), *described), on="document_id")
    )
    rows = []
    to_chunk = documents.filter(~pl.col("id").is_in(unchanged_ids))
    for doc in to_chunk.iter_rows(named=True):
        path = json.loads(doc["metadata"] or "{}").get("path") or doc["title"]
        for chunk in chunk_document(doc["id"], doc["text"], doc["category"], count, bounds, path):
            rows.append({
                "chunk_id": chunk.chunk_id, "document_id": doc["id"], "author_id": doc["author_id"],
                "platform": doc["platform"], "category": doc["category"], "url": doc["url"], "title": doc["title"],
                "chunk_index": chunk.chunk_index, "text": chunk.text, "token_count": chunk.token_count,
                "document_hash": doc["content_hash"], "chunking": chunking,
            })
    new = pl.DataFrame(rows, schema=DOCUMENT_CHUNK_SCHEMA)
    return pl.concat([kept.select(DOCUMENT_CHUNK_SCHEMA.keys()), new]), to_chunk.height
