"""Feature assets: document_chunks (Delta) and vector_index (LanceDB or Weaviate), updated incrementally."""

import os
import time

import dagster as dg

from twin_assets.features.chunking import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS, ChunkBounds
from twin_assets.features.chunks import chunk_rows
from twin_assets.features.embedding import Embedder
from twin_assets.features.index import VectorIndex, open_index, sync_index
from twin_assets.lake import CLEANED_DOCUMENTS, DOCUMENT_CHUNKS
from twin_assets.metadata import counts_by, markdown_sample, table_metadata
from twin_assets.resources import LakeResource
from twin_assets.settings import embedding_model, local_state_dir, vector_backend

FEATURES_GROUP = "features"


class EmbeddingResource(dg.ConfigurableResource):
    """The embedding model (a sentence-transformers id or path) and how chunks are cut for it."""

    model: str = embedding_model()
    batch_size: int = 32
    max_tokens: int = DEFAULT_MAX_TOKENS
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS

    def embedder(self) -> Embedder:
        return Embedder(self.model, self.batch_size)

    def bounds(self) -> ChunkBounds:
        return ChunkBounds(self.max_tokens, self.overlap_tokens)

    def chunking(self) -> str:
        return self.bounds().label(self.model)


class VectorIndexResource(dg.ConfigurableResource):
    """`lancedb` under TWIN_HOME, or `weaviate` at `weaviate_url` (API key from WEAVIATE_API_KEY)."""

    backend: str = vector_backend()
    weaviate_url: str = os.environ.get("WEAVIATE_URL", "")
    collection: str = "TwinChunk"

    def open(self, lake: LakeResource) -> VectorIndex:
        return open_index(self.backend, local_state_dir(lake.root), self.weaviate_url, self.collection)


@dg.asset(
    deps=[CLEANED_DOCUMENTS.name],
    group_name=FEATURES_GROUP,
    kinds={"delta", "python"},
    metadata=table_metadata(DOCUMENT_CHUNKS),
    description="Cleaned documents cut into chunks bounded in the embedding model's tokens; key sha256(document id + text).",
)
def document_chunks(context: dg.AssetExecutionContext, lake: LakeResource, embedding: EmbeddingResource):
    store = lake.lake()
    store.require(CLEANED_DOCUMENTS, "document_chunks")
    embedder = embedding.embedder()
    rows, chunked = chunk_rows(
        store.read(CLEANED_DOCUMENTS), store.read(DOCUMENT_CHUNKS), embedder.count_tokens, embedding.chunking(),
        embedding.bounds(),
    )
    result = store.replace(DOCUMENT_CHUNKS, rows)
    context.log.info(f"chunked {chunked} new or changed documents into {result.inserted} new chunks")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows.height,
            "documents_chunked": chunked,
            "inserted": result.inserted,
            "updated": result.updated,
            "removed": result.deleted,
            "delta_version": store.version(DOCUMENT_CHUNKS),
            "chunks_by_category": dg.MetadataValue.json(counts_by(rows, "category")),
            "max_token_count": int(rows["token_count"].max() or 0),
            "chunking": embedding.chunking(),
            "path": dg.MetadataValue.path(store.uri(DOCUMENT_CHUNKS)),
            "sample": dg.MetadataValue.md(markdown_sample(rows, ["title", "chunk_index", "token_count", "text"])),
        }
    )


@dg.asset(
    deps=[document_chunks],
    group_name=FEATURES_GROUP,
    kinds={"lancedb", "weaviate"},
    description="Chunk embeddings in the vector index; only new chunks, or all after a model change, are embedded.",
)
def vector_index(
    context: dg.AssetExecutionContext, lake: LakeResource, embedding: EmbeddingResource, index: VectorIndexResource,
):
    store = lake.lake()
    store.require(DOCUMENT_CHUNKS, "vector_index")
    chunks = store.read(DOCUMENT_CHUNKS).to_dicts()
    embedder = embedding.embedder()
    started = time.perf_counter()
    report = sync_index(index.open(lake), chunks, embedder.encode, embedding.model)
    seconds = time.perf_counter() - started
    context.log.info(f"vector index: {report}")
    return dg.MaterializeResult(
        metadata={
            "added": report.added,
            "updated": report.updated,
            "reembedded": report.reembedded,
            "removed": report.removed,
            "index_size": report.size,
            "embedding_model": embedding.model,
            "backend": index.backend,
            "seconds": round(seconds, 2),
        }
    )
