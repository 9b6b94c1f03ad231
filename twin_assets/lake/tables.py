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
    "sample_id": pl.String(),  # the instruct sample the pair was made from, or sha256("feedback:" + trace_id)
    "split": pl.String(),
    "prompt": pl.String(),
    "chosen": pl.String(),  # the author's own text, cut to complete sentences; or the author's edit of a draft
    "rejected": pl.String(),  # a generic answer from the configured generator; or the draft the author edited
    "category": pl.String(),
    "document_id": pl.String(),  # null for a pair made from feedback
    "source": pl.String(),  # instruct (an instruct sample and a generated answer) or feedback (an author's edit)
}

PREFERENCE_DATASET = TableSpec(
    "preference_dataset", "datasets", PREFERENCE_SCHEMA, key="sample_id",
    compare_on=("split", "prompt", "chosen", "rejected", "category", "source"),
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

# One row per request the served twin answered (or failed), written by the service (bento/prompt_log.py);
# feedback on the answer is merged into the request's row. Names follow the OpenTelemetry GenAI
# semantic conventions where one exists (see the column descriptions).
PROMPT_LOG_SCHEMA: dict[str, pl.DataType] = {
    "trace_id": pl.String(),
    "started_at": UTC_TIMESTAMP,
    "endpoint": pl.String(),
    "operation": pl.String(),
    "model_version": pl.String(),
    "engine": pl.String(),
    "author_id": pl.String(),
    "category": pl.String(),
    "prompt": pl.String(),
    "answer": pl.String(),
    "retrieved_chunk_ids": pl.List(pl.String()),
    "retrieval_scores": pl.List(pl.Float64()),
    "links": pl.List(pl.String()),
    "input_tokens": pl.Int64(),
    "output_tokens": pl.Int64(),
    "time_to_first_token_s": pl.Float64(),
    "latency_s": pl.Float64(),
    "retrieval_latency_s": pl.Float64(),
    "error": pl.String(),
    "feedback_rating": pl.Int64(),
    "feedback_edited_text": pl.String(),
    "feedback_reason": pl.String(),
    "feedback_at": UTC_TIMESTAMP,
}

# Every matched row is rewritten: feedback changes a stored request's row.
PROMPT_LOGS = TableSpec("prompt_logs", "monitoring", PROMPT_LOG_SCHEMA, key="trace_id", compare_on=())

PROMPT_METRICS_SCHEMA: dict[str, pl.DataType] = {
    "bucket_id": pl.String(),
    "hour": UTC_TIMESTAMP,
    "model_version": pl.String(),
    "endpoint": pl.String(),
    "requests": pl.Int64(),
    "errors": pl.Int64(),
    "error_rate": pl.Float64(),
    "latency_p50_s": pl.Float64(),
    "latency_p95_s": pl.Float64(),
    "ttft_p50_s": pl.Float64(),
    "ttft_p95_s": pl.Float64(),
    "output_tokens_per_s": pl.Float64(),
    "mean_top_retrieval_score": pl.Float64(),
    "feedback_count": pl.Int64(),
    "mean_rating": pl.Float64(),
    "edits": pl.Int64(),
}

PROMPT_METRICS = TableSpec(
    "prompt_metrics", "monitoring", PROMPT_METRICS_SCHEMA, key="bucket_id",
    compare_on=tuple(c for c in PROMPT_METRICS_SCHEMA if c not in ("bucket_id", "hour", "model_version", "endpoint")),
)

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
    "source": "Where the row came from: the twin.yaml source it was collected from (raw tables); for a preference "
    "pair, `instruct` (an instruct sample and a generated answer) or `feedback` (the author's edit of a served draft).",
    "metadata": "JSON: authors, language, path, commit, HTTP validators.",
    "kind": "What went wrong, as a short stable code (timeout, http_404, bot_challenge, ...).",
    "message": "The failure, in words.",
    "occurred_at": "When the source last failed (UTC).",
    "language": "ISO 639-1 code of prose; empty for code and very short texts.",
    "word_count": "Words in the cleaned text.",
    "duplicate_urls": "Where the same piece was cross-posted; those copies are not kept separately.",
    "chunk_id": "sha256(document id + chunk text): only new or changed chunks are embedded.",
    "document_id": "The cleaned document this row comes from; empty for a preference pair made from feedback.",
    "chunk_index": "Position of the chunk in its document.",
    "token_count": "Tokens of the embedding model in the chunk.",
    "document_hash": "The document's content_hash when it was chunked.",
    "chunking": "Embedding model and token bounds the chunks were cut with.",
    "sample_id": "sha256(document id + output); a preference pair keeps its instruct sample's id, a pair made "
    "from feedback is sha256('feedback:' + trace_id).",
    "split": "train or test, by a stable hash of the document id: no document is in both.",
    "instruction": "What a user of the twin would ask for.",
    "output": "The author's own text that answers the instruction.",
    "prompt": "What the model is asked: the instruction a preference pair answers, or a served request's prompt "
    "or search query as received (may hold personal data).",
    "chosen": "The author's text, cut to complete sentences; or the author's edit of a served draft.",
    "rejected": "A generic answer to the same prompt, from the base model or an LLM endpoint; or the served draft "
    "the author edited.",
    "row_id": "sha256(evaluation + model + metric + category).",
    "evaluation": "Names one evaluation: the models compared, the dataset version and the settings.",
    "model": "The registry version (`v<N> <twin version>`) or base model identity a row scores; `retrieval` and "
    "`verifier` for rows that score no model, `author` for the author's own style profile.",
    "role": "candidate, base, production, retrieval, verifier or author.",
    "metric": "perplexity, cosine_delta, style_profile_distance, author_likeness, memorisation_rate, rouge_l, "
    "length_ratio_error, python_parse_rate, recall_at_k, mrr, verifier_auc, judge_accuracy, judge_style, "
    "judge_preference, or style/<measure>: one measure of the writing's style profile.",
    "value": "The metric's value (see the metric for which direction is better).",
    "samples": "How many test samples the value is computed over.",
    "instruct_dataset_version": "The instruct_dataset Delta version whose test split was used.",
    "evaluated_at": "When the evaluation ran (UTC).",
    "trace_id": "The request's trace id: 32 hex digits, as in W3C Trace Context and OpenTelemetry; the service "
    "returns it so feedback can name the request.",
    "started_at": "When the service received the request (UTC).",
    "endpoint": "Where the request came in: http:/generate, http:/v1/chat/completions, http:/search, grpc:Generate "
    "or grpc:Search.",
    "operation": "gen_ai.operation.name: chat, text_completion or search.",
    "model_version": "gen_ai.response.model: the model that answered, a registry version (`twin-jane v3`) or the base "
    "model's name; empty for a search.",
    "engine": "What ran the model: transformers (in process) or openai (an OpenAI-compatible server).",
    "answer": "The text the service returned (the draft a user may edit); empty for a search or a failure.",
    "retrieved_chunk_ids": "chunk_id of each retrieved chunk, best first.",
    "retrieval_scores": "Similarity score of each retrieved chunk, in the order of retrieved_chunk_ids.",
    "links": "URLs the request asked the twin to draw on.",
    "input_tokens": "gen_ai.usage.input_tokens: prompt tokens the model read, retrieved context included.",
    "output_tokens": "gen_ai.usage.output_tokens: tokens the model generated.",
    "time_to_first_token_s": "Seconds from receiving the request to the first generated token "
    "(gen_ai.server.time_to_first_token).",
    "latency_s": "Seconds from receiving the request to its last byte (gen_ai.client.operation.duration, seen by "
    "the server).",
    "retrieval_latency_s": "Seconds spent retrieving chunks from the vector index.",
    "error": "error.type: the failure's class or code; empty on success.",
    "feedback_rating": "The user's rating of the answer: -1 (thumbs down), 0 (neutral) or 1 (thumbs up).",
    "feedback_edited_text": "The answer as the user (the author) edited it; an edit that differs from the answer "
    "becomes a preference pair.",
    "feedback_reason": "Why the user rated or edited the answer, in their words.",
    "feedback_at": "When the latest feedback on the request arrived (UTC).",
    "bucket_id": "sha256(hour + model_version + endpoint): one row per hour, model and endpoint.",
    "hour": "The UTC hour a metrics row covers (its start).",
    "requests": "Requests started in the hour.",
    "errors": "Requests of the hour that failed.",
    "error_rate": "errors / requests.",
    "latency_p50_s": "Median latency_s of the hour's successful requests (linear interpolation).",
    "latency_p95_s": "95th percentile of latency_s of the hour's successful requests (linear interpolation).",
    "ttft_p50_s": "Median time_to_first_token_s of the hour's successful requests.",
    "ttft_p95_s": "95th percentile of time_to_first_token_s of the hour's successful requests.",
    "output_tokens_per_s": "Generation throughput: sum of output_tokens / sum of (latency_s - retrieval_latency_s) over "
    "the hour's successful requests that generated tokens.",
    "mean_top_retrieval_score": "Mean over the hour's requests of their best retrieval score.",
    "feedback_count": "Requests of the hour that got any feedback.",
    "mean_rating": "Mean feedback_rating of the hour's rated requests (-1 to 1).",
    "edits": "Requests of the hour whose answer the author edited (an edit differing from the answer).",
}

LAKE_TABLES = {
    spec.name: spec
    for spec in (
        *RAW_DOCUMENT_TABLES.values(), CRAWL_ERRORS, CLEANED_DOCUMENTS, DOCUMENT_CHUNKS, INSTRUCT_DATASET, PREFERENCE_DATASET,
        MODEL_EVALUATION, PROMPT_LOGS, PROMPT_METRICS,
    )
}
