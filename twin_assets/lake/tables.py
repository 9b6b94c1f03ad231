"""Delta tables of the lake: where each lives, its schema, and the key it is upserted on."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

UTC_TIMESTAMP = pl.Datetime("us", "UTC")

DOCUMENT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "author_id": pl.String(),
    "platform": pl.String(),
    "category": pl.String(),
    "url": pl.String(),
    "title": pl.String(),
    "content": pl.String(),
    "published_at": UTC_TIMESTAMP,
    "crawled_at": UTC_TIMESTAMP,
    "content_hash": pl.String(),
    "source": pl.String(),  # the twin.yaml source this row was collected from
    "metadata": pl.String(),  # JSON: authors, language, path, commit, HTTP validators, ...
}

CRAWL_ERROR_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),  # sha256(author_id, url): the latest failure of each source
    "author_id": pl.String(),
    "source": pl.String(),
    "url": pl.String(),
    "kind": pl.String(),
    "message": pl.String(),
    "occurred_at": UTC_TIMESTAMP,
}


@dataclass(frozen=True)
class TableSpec:
    name: str
    layer: str
    schema: dict[str, pl.DataType]
    key: str = "id"
    # Rows whose `compare_on` values are all unchanged are not rewritten; () rewrites every matched row.
    compare_on: tuple[str, ...] = ("content_hash",)

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


RAW_ARTICLES = TableSpec("raw_articles", "raw", DOCUMENT_SCHEMA)
RAW_POSTS = TableSpec("raw_posts", "raw", DOCUMENT_SCHEMA)
RAW_REPOSITORIES = TableSpec("raw_repositories", "raw", DOCUMENT_SCHEMA)
CRAWL_ERRORS = TableSpec("crawl_errors", "raw", CRAWL_ERROR_SCHEMA, compare_on=())

RAW_DOCUMENT_TABLES = {spec.name: spec for spec in (RAW_ARTICLES, RAW_POSTS, RAW_REPOSITORIES)}

CLEANED_DOCUMENT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "author_id": pl.String(),
    "platform": pl.String(),
    "category": pl.String(),
    "url": pl.String(),  # tracking parameters removed
    "title": pl.String(),
    "text": pl.String(),  # cleaned text
    "published_at": UTC_TIMESTAMP,
    "crawled_at": UTC_TIMESTAMP,
    "content_hash": pl.String(),  # sha256 of `text`
    "language": pl.String(),  # ISO 639-1 of prose; null for code and very short texts
    "word_count": pl.Int64(),
    "duplicate_urls": pl.List(pl.String()),  # where the same piece was cross-posted
    "metadata": pl.String(),  # the raw row's metadata JSON
}

# A row changes when any cleaned field does, e.g. a new cross-post adds to duplicate_urls.
CLEANED_DOCUMENTS = TableSpec(
    "cleaned_documents",
    "clean",
    CLEANED_DOCUMENT_SCHEMA,
    compare_on=tuple(c for c in CLEANED_DOCUMENT_SCHEMA if c not in ("id", "crawled_at")),
)

DOCUMENT_CHUNK_SCHEMA: dict[str, pl.DataType] = {
    "chunk_id": pl.String(),  # sha256(document id + chunk text)
    "document_id": pl.String(),
    "author_id": pl.String(),
    "platform": pl.String(),
    "category": pl.String(),
    "url": pl.String(),
    "title": pl.String(),
    "chunk_index": pl.Int64(),
    "text": pl.String(),
    "token_count": pl.Int64(),
    "document_hash": pl.String(),  # the document's content_hash when it was chunked
    "chunking": pl.String(),  # model and token bounds the chunks were cut with
}

DOCUMENT_CHUNKS = TableSpec(
    "document_chunks",
    "features",
    DOCUMENT_CHUNK_SCHEMA,
    key="chunk_id",
    compare_on=("document_id", "chunk_index", "url", "title", "chunking"),
)

INSTRUCT_SCHEMA: dict[str, pl.DataType] = {
    "sample_id": pl.String(),  # sha256(document id + output)
    "split": pl.String(),  # train or test, by a stable hash of the document id
    "instruction": pl.String(),
    "output": pl.String(),  # always the author's own text
    "category": pl.String(),
    "document_id": pl.String(),
}

INSTRUCT_DATASET = TableSpec(
    "instruct_dataset", "datasets", INSTRUCT_SCHEMA, key="sample_id", compare_on=("split", "instruction", "category"),
)

PREFERENCE_SCHEMA: dict[str, pl.DataType] = {
    "sample_id": pl.String(),  # the instruct sample the pair was made from
    "split": pl.String(),
    "prompt": pl.String(),
    "chosen": pl.String(),  # the author's own text, cut to complete sentences
    "rejected": pl.String(),  # a generic answer from the configured generator
    "category": pl.String(),
    "document_id": pl.String(),
}

PREFERENCE_DATASET = TableSpec(
    "preference_dataset", "datasets", PREFERENCE_SCHEMA, key="sample_id",
    compare_on=("split", "prompt", "chosen", "rejected", "category"),
)

MODEL_EVALUATION_SCHEMA: dict[str, pl.DataType] = {
    "row_id": pl.String(),
    "evaluation": pl.String(),
    "model": pl.String(),
    "role": pl.String(),
    "metric": pl.String(),
    "category": pl.String(),
    "value": pl.Float64(),
    "samples": pl.Int64(),
    "instruct_dataset_version": pl.Int64(),
    "evaluated_at": pl.Datetime("us", "UTC"),
}

MODEL_EVALUATION = TableSpec("model_evaluation", "models", MODEL_EVALUATION_SCHEMA, key="row_id", compare_on=())

# What each column means, shown with its type in the Dagster UI (one meaning per name across tables).
COLUMN_DESCRIPTIONS: dict[str, str] = {
    "id": "Stable key: sha256 of the canonical source (URL, export path, repository URL + file path).",
    "author_id": "Whose writing this is: an author id from twin.yaml.",
    "platform": "medium, substack, linkedin, github or web.",
    "category": "article, post or repository.",
    "url": "Where the piece came from (tracking parameters removed once cleaned).",
    "title": "The piece's title; may be empty.",
    "content": "The text as extracted: paragraphs, lists and code indentation kept.",
    "text": "Cleaned text (cleaned_documents) or the chunk's text (document_chunks).",
    "published_at": "When the author published it (UTC).",
    "crawled_at": "When it was collected (UTC).",
    "content_hash": "sha256 of the text; unchanged text is never processed again downstream.",
    "source": "The twin.yaml source this row was collected from.",
    "metadata": "JSON: authors, language, path, commit, HTTP validators.",
    "kind": "What went wrong, as a short stable code (timeout, http_404, bot_challenge, ...).",
    "message": "The failure, in words.",
    "occurred_at": "When the source last failed (UTC).",
    "language": "ISO 639-1 code of prose; empty for code and very short texts.",
    "word_count": "Words in the cleaned text.",
    "duplicate_urls": "Where the same piece was cross-posted; those copies are not kept separately.",
    "chunk_id": "sha256(document id + chunk text): only new or changed chunks are embedded.",
    "document_id": "The cleaned document this row comes from.",
    "chunk_index": "Position of the chunk in its document.",
    "token_count": "Tokens of the embedding model in the chunk.",
    "document_hash": "The document's content_hash when it was chunked.",
    "chunking": "Embedding model and token bounds the chunks were cut with.",
    "sample_id": "sha256(document id + output); a preference pair keeps its instruct sample's id.",
    "split": "train or test, by a stable hash of the document id: no document is in both.",
    "instruction": "What a user of the twin would ask for.",
    "output": "The author's own text that answers the instruction.",
    "prompt": "The instruction the pair answers.",
    "chosen": "The author's text, cut to complete sentences.",
    "rejected": "A generic answer to the same prompt, from the base model or an LLM endpoint.",
    "row_id": "sha256(evaluation + model + metric + category).",
    "evaluation": "Names one evaluation: the models compared, the dataset version and the settings.",
    "model": "The registry version (`v<N> <twin version>`) or base model identity a row scores; `retrieval` and "
    "`verifier` for rows that score no model.",
    "role": "candidate, base, production, retrieval or verifier.",
    "metric": "perplexity, cosine_delta, style_profile_distance, author_likeness, memorisation_rate, rouge_l, "
    "length_ratio_error, python_parse_rate, recall_at_k, mrr or verifier_auc.",
    "value": "The metric's value (see the metric for which direction is better).",
    "samples": "How many test samples the value is computed over.",
    "instruct_dataset_version": "The instruct_dataset Delta version whose test split was used.",
    "evaluated_at": "When the evaluation ran (UTC).",
}

LAKE_TABLES = {
    spec.name: spec
    for spec in (
        *RAW_DOCUMENT_TABLES.values(), CRAWL_ERRORS, CLEANED_DOCUMENTS, DOCUMENT_CHUNKS, INSTRUCT_DATASET, PREFERENCE_DATASET,
        MODEL_EVALUATION,
    )
}
