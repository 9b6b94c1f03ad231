"""The twin over HTTP: one BentoML service around one engine, which also serves gRPC.

`bentoml serve bento.service:TwinService` (or `make serve`) starts both. /generate and the
OpenAI-compatible /v1/chat/completions stream only when asked, so they are FastAPI routes on the
service; /search and /feedback are typed BentoML APIs. /livez, /healthz, /readyz and /metrics
are BentoML's own, with readiness and the engine's metrics added.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import bentoml
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bento.engine import Busy, Generation, NotReady, TwinEngine
from bento.generators import GenerationError
from bento.guard import GuardMiddleware
from bento.links import LinkError
from bento.prompt_log import UnknownTrace
from bento.schemas import Category, Draft, FeedbackRequest, FeedbackResponse, GenerateRequest, SearchRequest, SearchResponse
from bento.settings import ServingSettings, transport_from_env
from bento.ui import mount_ui

log = logging.getLogger("twin.service")

app = FastAPI(title="LLM Twin", description="Drafts in the author's voice, grounded in their own writing.")
mount_ui(app)


def sse(data: Any, event: str | None = None) -> str:
    """One server-sent event."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def error_status(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and message for what the engine raised before a draft started."""
    if isinstance(exc, ValidationError):
        return HTTPStatus.UNPROCESSABLE_ENTITY, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    if isinstance(exc, LinkError):
        return HTTPStatus.UNPROCESSABLE_ENTITY, f"link {exc.url} cannot be used ({exc.kind}): {exc}"
    if isinstance(exc, ValueError):
        return HTTPStatus.BAD_REQUEST, str(exc)
    if isinstance(exc, Busy):
        return HTTPStatus.TOO_MANY_REQUESTS, str(exc)
    if isinstance(exc, NotReady):
        return HTTPStatus.SERVICE_UNAVAILABLE, str(exc)
    if isinstance(exc, UnknownTrace):
        return HTTPStatus.NOT_FOUND, str(exc.args[0] if exc.args else exc)
    if isinstance(exc, GenerationError) and exc.kind == "timeout":
        return HTTPStatus.GATEWAY_TIMEOUT, str(exc)
    return HTTPStatus.INTERNAL_SERVER_ERROR, "the twin failed to write this draft; see the service log"


async def pieces_of(generation: Generation) -> AsyncIterator[str]:
    """The generation's text without blocking the event loop: a thread writes, and each step
    here sends whatever has come since the last, so a fast model is not slowed by one HTTP chunk
    per token. Closing early (a client that went away) stops the model."""
    loop = asyncio.get_running_loop()
    arrived: asyncio.Queue = asyncio.Queue()
    end = object()

    def write() -> None:
        try:
            for piece in generation:
                loop.call_soon_threadsafe(arrived.put_nowait, piece)
        except BaseException as exc:  # raised in the reader, below
            loop.call_soon_threadsafe(arrived.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(arrived.put_nowait, end)

    writer = loop.run_in_executor(None, write)
    try:
        while True:
            items = [await arrived.get()]
            while not arrived.empty():
                items.append(arrived.get_nowait())
            text = "".join(item for item in items if isinstance(item, str))
            if text:
                yield text
            for item in items:
                if isinstance(item, BaseException):
                    raise item
            if items[-1] is end:
                return
    finally:
        generation.close()
        await writer


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request; unknown OpenAI parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=2048)
    max_completion_tokens: int | None = Field(None, ge=1, le=2048)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    seed: int | None = Field(None, ge=0)

    def as_generate(self) -> GenerateRequest:
        users = [m.content for m in self.messages if m.role == "user"]
        if not users:
            raise ValueError("messages: the conversation has no user message to answer")
        values = {"prompt": users[-1], "max_new_tokens": self.max_completion_tokens or self.max_tokens,
                  "temperature": self.temperature, "seed": self.seed}
        return GenerateRequest(**{k: v for k, v in values.items() if v is not None})


def completion_body(draft: Draft, created: int) -> dict:
    return {
        "id": f"chatcmpl-{draft.trace_id}", "object": "chat.completion", "created": created, "model": draft.model_version,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": draft.text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": draft.input_tokens, "completion_tokens": draft.output_tokens,
                  "total_tokens": draft.input_tokens + draft.output_tokens},
        "sources": [s.model_dump() for s in draft.sources],
    }


def completion_chunk(trace_id: str, created: int, model: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": f"chatcmpl-{trace_id}", "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


TRANSPORT = transport_from_env()


@bentoml.service(
    name="llm_twin",
    http={"host": TRANSPORT["host"], "port": TRANSPORT["http_port"]},
    # The engine refuses past its own slots with 429 first; this bound also covers /search and the UI.
    traffic={"timeout": TRANSPORT["request_timeout_s"], "max_concurrency": 2 * TRANSPORT["max_concurrency"]},
    workers=1,  # one engine holds the model; the gRPC server shares it in this process
    endpoints={"livez": "/livez", "readyz": "/readyz"},
)
@bentoml.asgi_app(app, path="/")
class TwinService:
    def __init__(self) -> None:
        from bento.grpc_server import GrpcServer

        self.settings = ServingSettings.from_env()
        if not self.settings.api_keys:
            log.warning("no TWIN_API_KEYS set: the twin answers anyone who can reach %s", self.settings.host)
        self.engine = TwinEngine(self.settings)
        self.engine.start()
        app.state.engine, app.state.settings = self.engine, self.settings  # what the web UI's pages use
        self.grpc = GrpcServer(self.engine, self.settings)
        self.grpc_port = self.grpc.start()
        log.info("gRPC on %s:%s", self.settings.host, self.grpc_port)

    def __is_ready__(self) -> bool:
        return self.engine.ready

    def __metrics__(self, content: str) -> str:
        return content + self.engine.metrics.exposition()

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.grpc.stop()
        self.engine.close()  # flushes the prompt logs: a clean shutdown loses no record

    @app.post("/generate", response_model=Draft, summary="Write a draft in the author's voice")
    async def generate(self, request: GenerateRequest):
        try:
            generation = await asyncio.to_thread(self.engine.generate, request, "http:/generate")
        except Exception as exc:
            return self._error(exc)
        if not request.stream:
            try:
                draft = await asyncio.to_thread(generation.draft)
            except Exception as exc:
                return self._error(exc)
            return draft
        return StreamingResponse(self._generate_events(generation), media_type="text/event-stream")

    async def _generate_events(self, generation: Generation) -> AsyncIterator[str]:
        yield sse({"trace_id": generation.trace_id, "model_version": generation.model_version,
                   "sources": [s.model_dump() for s in generation.sources]}, "start")
        try:
            async for piece in pieces_of(generation):
                yield sse({"text": piece})
        except Exception as exc:
            status, message = error_status(exc)
            yield sse({"trace_id": generation.trace_id, "status": int(status), "detail": message}, "error")
            return
        yield sse({"trace_id": generation.trace_id, "text": generation.text, "input_tokens": generation.input_tokens,
                   "output_tokens": generation.output_tokens}, "done")

    @app.post("/v1/chat/completions", summary="OpenAI-compatible chat completions, answered by the twin")
    async def chat_completions(self, request: ChatCompletionRequest):
        try:
            generate = request.as_generate()
            generation = await asyncio.to_thread(self.engine.generate, generate, "http:/v1/chat/completions", "chat")
        except Exception as exc:
            return self._error(exc)
        created = int(time.time())
        if not request.stream:
            try:
                return completion_body(await asyncio.to_thread(generation.draft), created)
            except Exception as exc:
                return self._error(exc)

        async def chunks() -> AsyncIterator[str]:
            trace, model = generation.trace_id, generation.model_version
            yield f"data: {json.dumps(completion_chunk(trace, created, model, {'role': 'assistant', 'content': ''}))}\n\n"
            try:
                async for piece in pieces_of(generation):
                    yield f"data: {json.dumps(completion_chunk(trace, created, model, {'content': piece}))}\n\n"
            except Exception as exc:
                yield f"data: {json.dumps({'error': {'message': error_status(exc)[1]}})}\n\n"
            else:
                yield f"data: {json.dumps(completion_chunk(trace, created, model, {}, 'stop'))}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    @bentoml.api(route="/search")
    def search(
        self, query: str = Field(min_length=1, max_length=8000), k: int = Field(5, ge=1, le=50),
        author: str | None = None, category: Category | None = None,
    ) -> SearchResponse:
        """The author's passages closest to the query: the `twin search --json` shape."""
        try:
            results = self.engine.search(SearchRequest(query=query, k=k, author=author, category=category), "http:/search")
        except Exception as exc:
            raise self._bentoml_error(exc) from None
        return SearchResponse(results=results)

    @bentoml.api(route="/feedback")
    def feedback(
        self, trace_id: str = Field(min_length=1, max_length=64), rating: int | None = Field(None, ge=-1, le=1),
        edited_text: str | None = Field(None, max_length=100_000), reason: str | None = Field(None, max_length=2_000),
    ) -> FeedbackResponse:
        """A rating and/or the author's edit of a draft; an edit becomes a preference pair."""
        try:
            self.engine.feedback(FeedbackRequest(trace_id=trace_id, rating=rating, edited_text=edited_text, reason=reason))
        except Exception as exc:
            raise self._bentoml_error(exc) from None
        return FeedbackResponse(trace_id=trace_id)

    def _error(self, exc: BaseException) -> JSONResponse:
        status, message = error_status(exc)
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            log.exception("request failed", exc_info=exc)
        return JSONResponse({"detail": message}, status_code=int(status))

    def _bentoml_error(self, exc: BaseException) -> bentoml.exceptions.BentoMLException:
        status, message = error_status(exc)
        if status == HTTPStatus.INTERNAL_SERVER_ERROR:
            log.exception("request failed", exc_info=exc)
        return bentoml.exceptions.BentoMLException(message, error_code=status)


TwinService.add_asgi_middleware(GuardMiddleware)
