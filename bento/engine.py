"""The one engine both protocols serve: the production model (or the base model until one is
promoted), retrieval over the author's writing, links as extra knowledge, prompt logging, and
a hot swap when `production` moves.

Retrieval, chunking, embedding and prompt formats are the feature and training code itself
(twin_assets.features, training.prompts): what the model sees here is what it was trained on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from bento.generators import GenerationError, Generator, OpenAIGenerator, Sampling, TokenStream, TransformersGenerator
from bento.links import LinkError, LinkFetcher, LinkPolicy
from bento.prompt_log import PromptLogWriter, PromptRecord, UnknownTrace, new_trace_id  # noqa: F401 (UnknownTrace: raised by feedback)
from bento.schemas import Draft, FeedbackRequest, GenerateRequest, SearchRequest, Source
from bento.settings import ServingSettings
from training.prompts import grounded_instruction
from twin_assets.features.retrieval import SearchResult

log = logging.getLogger("twin.engine")

LINK_PASSAGES = 3  # the best chunks over all linked pages that join the context
BASE_PREFIX = "base:"  # model_version of the base model, served before any promotion


class Busy(RuntimeError):
    """Every generation slot is taken: the client should retry later (HTTP 429, gRPC RESOURCE_EXHAUSTED)."""


class NotReady(RuntimeError):
    """The model or the index is still loading (HTTP 503, gRPC UNAVAILABLE)."""


@dataclass(frozen=True)
class ServedModel:
    generator: Generator
    version: str  # `twin-<author> v<N>`, `base:<name>` or `openai:<model>`
    registry_version: int | None  # the registry version number, None for the base model


@dataclass
class Context:
    """What a draft is grounded in: the author's passages and notes from linked pages."""

    passages: list[SearchResult] = field(default_factory=list)
    link_notes: list[tuple[str, str | None, str, float]] = field(default_factory=list)  # url, title, text, score
    retrieval_s: float = 0.0

    def sources(self) -> list[Source]:
        found = [Source(document_id=p.document_id, title=p.title, url=p.url, score=p.score) for p in self.passages]
        seen: set[str] = set()
        for url, title, _, score in self.link_notes:
            if url not in seen:
                seen.add(url)
                found.append(Source(document_id=None, title=title, url=url, score=round(score, 4), kind="link"))
        return found

    def instruction(self, prompt: str) -> str:
        return grounded_instruction(prompt, [p.text for p in self.passages], [text for _, _, text, _ in self.link_notes])


class Generation:
    """One draft in progress: iterate it for text pieces. Ending the iteration, or `close()`,
    frees its slot and writes its prompt log record, exactly once."""

    def __init__(self, engine: TwinEngine, request: GenerateRequest, endpoint: str, operation: str,
                 model: ServedModel, context: Context, started: float, started_at: datetime) -> None:
        self.trace_id = new_trace_id()
        self.request = request
        self.model_version = model.version
        self.sources = context.sources()
        self._engine, self._endpoint, self._operation = engine, endpoint, operation
        self._model, self._context = model, context
        self._started, self._started_at = started, started_at
        self._pieces: list[str] = []
        self._first_piece_s: float | None = None
        self._stream: TokenStream | None = None
        self._finished = threading.Lock()
        self._done = False
        self.error: str | None = None

    @property
    def text(self) -> str:
        return "".join(self._pieces).strip()

    def __iter__(self) -> Iterator[str]:
        sampling = Sampling(
            max_new_tokens=self.request.max_new_tokens, temperature=self.request.temperature, seed=self.request.seed,
            deadline=self._started + self._engine.settings.request_timeout_s,
        )
        try:
            if self._done:  # closed before it started (a client that left early)
                return
            self._stream = self._model.generator.stream(self._context.instruction(self.request.prompt), sampling)
            if self._done:  # closed while the stream was being set up
                self._stream.cancel.set()
            for piece in self._stream:
                if self._first_piece_s is None:
                    self._first_piece_s = time.monotonic() - self._started
                self._pieces.append(piece)
                yield piece
        except GenerationError as exc:
            self.error = exc.kind
            raise
        except BaseException as exc:
            self.error = type(exc).__name__
            raise
        finally:
            self.close()

    @property
    def input_tokens(self) -> int:
        return self._stream.input_tokens if self._stream else 0

    @property
    def output_tokens(self) -> int:
        return self._stream.output_tokens if self._stream else 0

    def draft(self) -> Draft:
        """Writes the whole draft (call it instead of iterating, not after)."""
        for _ in self:
            pass
        return Draft(
            text=self.text, sources=self.sources, model_version=self.model_version, trace_id=self.trace_id,
            input_tokens=self.input_tokens, output_tokens=self.output_tokens,
        )

    def close(self) -> None:
        with self._finished:
            if self._done:
                return
            self._done = True
        if self._stream is not None:
            self._stream.cancel.set()
        self._engine._release()
        latency = time.monotonic() - self._started
        self._engine.metrics.observe_generation(
            self._endpoint, self.error, self._first_piece_s, latency, self.output_tokens, self._context.retrieval_s,
        )
        self._engine.log_record(PromptRecord(
            trace_id=self.trace_id, started_at=self._started_at, endpoint=self._endpoint, operation=self._operation,
            model_version=self.model_version, engine=self._engine.settings.engine, author_id=self._engine.settings.author,
            category=self.request.category, prompt=self.request.prompt, answer=self.text,
            retrieved_chunk_ids=[p.chunk_id for p in self._context.passages],
            retrieval_scores=[float(p.score) for p in self._context.passages], links=list(self.request.links),
            input_tokens=self.input_tokens, output_tokens=self.output_tokens,
            time_to_first_token_s=self._first_piece_s, latency_s=latency,
            retrieval_latency_s=self._context.retrieval_s, error=self.error,
        ))


class TwinEngine:
    def __init__(self, settings: ServingSettings, links: LinkFetcher | None = None) -> None:
        from bento.metrics import EngineMetrics
        from twin_assets.lake import Lake

        self.settings = settings
        self.metrics = EngineMetrics()
        self.links = links or LinkFetcher(LinkPolicy.from_env())
        self.logs = PromptLogWriter(Lake(settings.home))
        self._model: ServedModel | None = None
        self._retriever: Any = None
        self._embedder: Any = None
        self._slots = threading.BoundedSemaphore(settings.max_concurrency)
        self._swap_lock = threading.Lock()
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None
        self.load_error: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._model is not None and self._retriever is not None

    @property
    def model(self) -> ServedModel:
        if self._model is None:
            raise NotReady(self.load_error or "the model is still loading")
        return self._model

    def load(self) -> None:
        """Loads the embedding model, the index and the served model; blocking."""
        from twin_assets.features.embedding import Embedder
        from twin_assets.features.index import open_index
        from twin_assets.features.retrieval import Retriever

        try:
            embedder = Embedder(self.settings.embedding_model)
            embedder.encode(["warm up"])  # the first encode loads the weights: pay it before the first request
            index = open_index(self.settings.vector_backend, self.settings.state_dir, self.settings.weaviate_url)
            self._embedder = embedder
            self._model = self._load_model(self._production_version())
            self._retriever = Retriever(embedder.encode, index)
            log.info("serving %s for %s", self._model.version, self.settings.author)
        except Exception as exc:
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.error("the engine failed to load: %s", self.load_error)
            raise

    def start(self) -> None:
        """Loads in the background (readiness says when it is done) and then watches the registry."""

        def run() -> None:
            try:
                self.load()
            except Exception:  # the error is kept in load_error and /readyz stays 503
                return
            while self.settings.swap_poll_s and not self._stopping.wait(self.settings.swap_poll_s):
                try:
                    self.refresh()
                except Exception as exc:  # a registry hiccup must not stop the watch
                    log.warning("checking for a new production version failed: %s", exc)

        self._poller = threading.Thread(target=run, name="twin-engine", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
        self.logs.close()
        self.links.close()

    def _production_version(self):
        if self.settings.engine == "openai":
            return None
        from twin_assets.models.registry import PRODUCTION, get_version_by_alias

        return get_version_by_alias(self.settings.state_dir, self.settings.author, PRODUCTION)

    def _load_model(self, version) -> ServedModel:
        s = self.settings
        if s.engine == "openai":
            key = s.engine_api_key.get_secret_value() if s.engine_api_key else None
            generator = OpenAIGenerator(s.engine_base_url, s.engine_model, key, s.request_timeout_s)
            return ServedModel(generator, generator.identity, None)
        if version is None:
            label = BASE_PREFIX + s.base_model
            log.warning("no version of %s's twin is in production: serving the base model %s", s.author, s.base_model)
            return ServedModel(TransformersGenerator(s.base_model_location(), label), label, None)
        from twin_assets.models.registry import model_name

        label = f"{model_name(s.author)} v{version.version}"
        return ServedModel(TransformersGenerator(version.path / "merged", label), label, version.version)

    def refresh(self) -> bool:
        """Loads the version `production` points at when it moved, then swaps it in between
        requests: a request keeps the model it started with, so none fails during the swap."""
        with self._swap_lock:
            version = self._production_version()
            wanted = version.version if version is not None else None
            if self._model is not None and self._model.registry_version == wanted:
                return False
            loaded = self._load_model(version)
            previous, self._model = self._model, loaded
            log.info("production moved: now serving %s (was %s)", loaded.version, previous.version if previous else None)
            self.metrics.swaps.inc()
            return True

    # -- requests ----------------------------------------------------------------------------

    def _admit(self) -> None:
        if not self._slots.acquire(blocking=False):
            self.metrics.rejected.inc()
            raise Busy(f"all {self.settings.max_concurrency} generation slots are busy; retry shortly")

    def _release(self) -> None:
        self._slots.release()

    def _check_author(self, author: str | None) -> str:
        if author not in (None, self.settings.author):
            raise ValueError(f"this service serves the twin of {self.settings.author!r}, not {author!r}")
        return self.settings.author

    def _retrieve(self, query: str, k: int, author: str, category: str | None) -> list[SearchResult]:
        if self._retriever is None:
            raise NotReady(self.load_error or "the vector index is still loading")
        if k == 0:
            return []  # an empty index answers a search with no hits: no count on every request
        return self._retriever.search(query, k, author, category)

    def _link_notes(self, query: str, links: list[str]) -> list[tuple[str, str | None, str, float]]:
        """The linked pages' chunks closest to the request, cut with the index's chunker."""
        from twin_assets.features.chunking import chunk_text

        pieces: list[tuple[str, str | None, str]] = []
        for url in links:
            page = self.links.fetch(url)
            pieces.extend((page.url, page.title, text) for text in chunk_text(page.text, "article", self._embedder.count_tokens))
        if not pieces:
            return []
        vectors = self._embedder.encode([query] + [text for _, _, text in pieces])
        scores = vectors[1:] @ vectors[0]
        best = np.argsort(-scores)[:LINK_PASSAGES]
        return [(*pieces[i], float(scores[i])) for i in sorted(best)]

    def context(self, request: GenerateRequest) -> Context:
        author = self._check_author(request.author)
        started = time.monotonic()
        passages = self._retrieve(request.prompt, request.k, author, request.category)
        retrieval_s = time.monotonic() - started
        return Context(passages, self._link_notes(request.prompt, request.links), retrieval_s)

    def generate(self, request: GenerateRequest, endpoint: str, operation: str = "text_completion") -> Generation:
        """Retrieves, fetches links and takes a slot; the draft is written as the result is iterated.
        Bad input, an unreachable link, no free slot or a model still loading raise here, before
        anything is streamed."""
        started, started_at = time.monotonic(), datetime.now(timezone.utc)
        model = self.model
        try:
            context = self.context(request)
        except (ValueError, LinkError, NotReady) as exc:
            self._log_failure(request, endpoint, operation, model.version, started, started_at, exc)
            raise
        self._admit()
        return Generation(self, request, endpoint, operation, model, context, started, started_at)

    def search(self, request: SearchRequest, endpoint: str) -> list[SearchResult]:
        started, started_at = time.monotonic(), datetime.now(timezone.utc)
        author = self._check_author(request.author)
        error = None
        results: list[SearchResult] = []
        try:
            results = self._retrieve(request.query, request.k, author, request.category)
            return results
        except Exception as exc:
            error = type(exc).__name__
            raise
        finally:
            latency = time.monotonic() - started
            self.metrics.observe_search(endpoint, error, latency)
            self.log_record(PromptRecord(
                trace_id=new_trace_id(), started_at=started_at, endpoint=endpoint, operation="search",
                model_version=self._model.version if self._model else "", engine=self.settings.engine, author_id=author,
                category=request.category, prompt=request.query,
                retrieved_chunk_ids=[r.chunk_id for r in results], retrieval_scores=[float(r.score) for r in results],
                input_tokens=0, output_tokens=0, latency_s=latency, retrieval_latency_s=latency, error=error,
            ))

    def feedback(self, request: FeedbackRequest) -> None:
        """Records a rating and/or the author's edit on the request's log row; UnknownTrace when
        no request had that trace id."""
        self.logs.add_feedback(request.trace_id, request.rating, request.edited_text, request.reason)
        self.metrics.feedback.inc()

    def log_record(self, record: PromptRecord) -> None:
        try:
            self.logs.record(record)
        except Exception as exc:  # monitoring never fails a request
            log.error("could not queue the prompt log record of %s: %s", record.trace_id, exc)

    def _log_failure(self, request, endpoint, operation, version, started, started_at, exc) -> None:
        kind = exc.kind if isinstance(exc, LinkError) else type(exc).__name__
        self.metrics.observe_generation(endpoint, kind, None, time.monotonic() - started, 0, 0.0)
        self.log_record(PromptRecord(
            trace_id=new_trace_id(), started_at=started_at, endpoint=endpoint, operation=operation,
            model_version=version, engine=self.settings.engine, author_id=self.settings.author,
            category=request.category, prompt=request.prompt, links=list(request.links), input_tokens=0, output_tokens=0,
            latency_s=time.monotonic() - started, error=kind,
        ))
