"""The twin over gRPC (service `twin.v1.Twin`, bento/twin.proto), served from the same engine as the
HTTP API, inside the BentoML process: a `grpc.aio` server on its own thread and event loop.

Requests become the pydantic models of bento/schemas.py, so both protocols validate alike. The
engine is blocking: its calls and each step of a draft run on worker threads, never on the event
loop. Health (`grpc.health.v1`, SERVING once the engine is ready) and reflection are open; the
Twin RPCs need `authorization: Bearer <key>` when API keys are set.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from pydantic import BaseModel, ValidationError

from bento import twin_pb2, twin_pb2_grpc
from bento.engine import Busy, NotReady
from bento.generators import GenerationError
from bento.links import LinkError
from bento.prompt_log import UnknownTrace
from bento.schemas import FeedbackRequest, GenerateRequest, SearchRequest, Source

log = logging.getLogger("twin.grpc")

SERVICE_NAME = twin_pb2.DESCRIPTOR.services_by_name["Twin"].full_name  # "twin.v1.Twin"
GENERATE, SEARCH, FEEDBACK = "grpc:Generate", "grpc:Search", "grpc:Feedback"
HEALTH_POLL_S = 0.5
_END = object()  # what `next` returns once a draft is complete
M = TypeVar("M", bound=BaseModel)


def error_status(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message for what the engine raised; never a stack trace."""
    if isinstance(exc, ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT, "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"] for e in exc.errors())
    if isinstance(exc, LinkError):
        return grpc.StatusCode.INVALID_ARGUMENT, f"link {exc.url} cannot be used ({exc.kind}): {exc}"
    if isinstance(exc, Busy):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)
    if isinstance(exc, NotReady):
        return grpc.StatusCode.UNAVAILABLE, str(exc)
    if isinstance(exc, UnknownTrace):
        return grpc.StatusCode.NOT_FOUND, f"no draft has the trace id {exc.args[0] if exc.args else ''!s}"
    if isinstance(exc, GenerationError):
        if exc.kind == "timeout":
            return grpc.StatusCode.DEADLINE_EXCEEDED, "the draft ran past the request timeout"
        return grpc.StatusCode.INTERNAL, f"the twin failed to write this draft ({exc.kind}); see the service log"
    if isinstance(exc, ValueError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    return grpc.StatusCode.INTERNAL, "the twin failed to answer; see the service log"


def to_model(message: Any, model: type[M]) -> M:
    """A proto request as the shared pydantic request: unset optional fields take the model's
    defaults; ValidationError on bad values."""
    data: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.has_presence and not message.HasField(field.name):
            continue
        value = getattr(message, field.name)
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        data[field.name] = list(value) if repeated else value
    return model.model_validate(data)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def source_message(source: Source) -> twin_pb2.Source:
    return twin_pb2.Source(**_present(source.model_dump()))




def _quiet_poller(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """grpc.aio shares one completion-queue poller between the event loops of a process (this
    server's and, say, an aio client's): a loop woken for events another loop already took logs a
    harmless BlockingIOError. Everything else goes to asyncio's default handler."""
    if isinstance(context.get("exception"), BlockingIOError) and "PollerCompletionQueue" in str(context.get("message")):
        return
    loop.default_exception_handler(context)


def _close_when_done(future: asyncio.Future) -> None:
    """For a generation whose request was cancelled while the engine was still preparing it."""
    if not future.cancelled() and future.exception() is None:
        future.result().close()


class TwinServicer(twin_pb2_grpc.TwinServicer):
    def __init__(self, engine: Any, api_keys: frozenset[str]) -> None:
        self._engine = engine
        self._keys = tuple(key.encode() for key in api_keys)

    # -- helpers -----------------------------------------------------------------------------

    async def _authorize(self, context: grpc.aio.ServicerContext) -> None:
        if not self._keys:
            return
        header = next((value for key, value in context.invocation_metadata() or () if key == "authorization"), "")
        scheme, _, token = str(header).partition(" ")
        given = token.strip().encode()
        matched = False
        for key in self._keys:  # every key is compared: the time taken says nothing about which matched
            matched |= hmac.compare_digest(given, key)
        if scheme.lower() != "bearer" or not given or not matched:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "send `authorization: Bearer <API key>` metadata")

    @staticmethod
    async def _fail(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> NoReturn:
        code, message = error_status(exc)
        if code == grpc.StatusCode.INTERNAL:
            log.error("%s failed", method, exc_info=(type(exc), exc, exc.__traceback__))
        await context.abort(code, message)
        raise AssertionError("unreachable: abort raises")  # pragma: no cover

    async def _request(self, message: Any, model: type[M], context: grpc.aio.ServicerContext, method: str) -> M:
        await self._authorize(context)
        try:
            return to_model(message, model)
        except ValidationError as exc:
            await self._fail(context, exc, method)

    async def _call(self, context: grpc.aio.ServicerContext, method: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
        except Exception as exc:
            await self._fail(context, exc, method)

    # -- RPCs --------------------------------------------------------------------------------

    async def Generate(self, request: twin_pb2.GenerateRequest,
                       context: grpc.aio.ServicerContext) -> AsyncIterator[twin_pb2.GenerateReply]:
        body = await self._request(request, GenerateRequest, context, GENERATE)
        loop = asyncio.get_running_loop()
        preparing = loop.run_in_executor(None, self._engine.generate, body, GENERATE)
        try:
            generation = await asyncio.shield(preparing)
        except asyncio.CancelledError:  # the client left while the engine retrieved: free the slot it takes
            preparing.add_done_callback(_close_when_done)
            raise
        except Exception as exc:
            await self._fail(context, exc, GENERATE)
        # However the call ends (done, cancelled by the client, past its deadline), the draft stops.
        context.add_done_callback(lambda _: generation.close())
        failure: Exception | None = None
        try:
            yield twin_pb2.GenerateReply(start=twin_pb2.GenerateStart(
                trace_id=generation.trace_id, model_version=generation.model_version,
                sources=[source_message(source) for source in generation.sources],
            ))
            pieces = iter(generation)
            while (piece := await loop.run_in_executor(None, next, pieces, _END)) is not _END:
                yield twin_pb2.GenerateReply(piece=piece)
        except Exception as exc:
            failure = exc
        finally:
            generation.close()  # idempotent; stops the model when the stream ended early
        if failure is not None:
            await self._fail(context, failure, GENERATE)
        done = twin_pb2.GenerateDone(input_tokens=generation.input_tokens, output_tokens=generation.output_tokens)
        yield twin_pb2.GenerateReply(done=done)

    async def Search(self, request: twin_pb2.SearchRequest, context: grpc.aio.ServicerContext) -> twin_pb2.SearchReply:
        body = await self._request(request, SearchRequest, context, SEARCH)

        hits = await self._call(context, SEARCH, self._engine.search, body, SEARCH)
        return twin_pb2.SearchReply(results=[twin_pb2.SearchHit(**_present(hit.as_dict())) for hit in hits])

    async def Feedback(self, request: twin_pb2.FeedbackRequest,
                       context: grpc.aio.ServicerContext) -> twin_pb2.FeedbackReply:
        body = await self._request(request, FeedbackRequest, context, FEEDBACK)
        await self._call(context, FEEDBACK, self._engine.feedback, body)
        return twin_pb2.FeedbackReply(trace_id=body.trace_id, recorded=True)


class GrpcServer:
    """`start()` serves on settings.host:settings.grpc_port from a thread of its own and returns the
    bound port (settings.grpc_port 0 picks a free one); `stop()` drains and ends it."""

    def __init__(self, engine: Any, settings: Any, *, health_poll_s: float = HEALTH_POLL_S) -> None:
        self.engine = engine
        self.settings = settings
        self.port: int | None = None
        self._health_poll_s = health_poll_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: grpc.aio.Server | None = None
        self._health: health_aio.HealthServicer | None = None
        self._watch: asyncio.Task | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        host = self.settings.host
        if ":" in host and not host.startswith("["):  # an IPv6 address
            host = f"[{host}]"
        return f"{host}:{self.settings.grpc_port}"

    def start(self) -> int:
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the gRPC server is already started")
            started = threading.Event()
            failure: list[BaseException] = []
            self._thread = threading.Thread(target=self._run, args=(started, failure), name="twin-grpc", daemon=True)
            self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        assert self.port is not None
        return self.port

    def stop(self, grace: float = 5.0) -> None:
        with self._lock:
            thread, loop = self._thread, self._loop
            if thread is None or loop is None:
                return
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(grace), loop).result(timeout=grace + 10)
            except Exception as exc:  # stopping goes on: the loop still ends below
                log.warning("the gRPC server did not stop cleanly: %s", exc)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=grace + 10)
            self._thread = None

    # -- on the server's thread --------------------------------------------------------------

    def _run(self, started: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # The engine's blocking work runs here: a draft holds a worker between pieces, so there are
        # workers for every generation slot and then some for searches and feedback.
        slots = int(getattr(self.settings, "max_concurrency", 16))
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=slots + 8, thread_name_prefix="twin-grpc-worker")
        loop.set_default_executor(self._executor)
        loop.set_exception_handler(_quiet_poller)
        self._loop = loop
        try:
            self.port = loop.run_until_complete(self._serve())
        except BaseException as exc:
            failure.append(exc)
            self._executor.shutdown(wait=False, cancel_futures=True)
            loop.close()
            self._loop = None
            started.set()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                self._executor.shutdown(wait=False, cancel_futures=True)
                loop.close()
                self._loop = None

    async def _serve(self) -> int:
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", self.settings.max_request_bytes),
            ("grpc.so_reuseport", 0),  # a port already taken is an error, not a second listener
        ])
        twin_pb2_grpc.add_TwinServicer_to_server(TwinServicer(self.engine, self.settings.key_values()), server)
        health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server)
        try:
            port = server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise OSError(f"cannot serve gRPC on {self.address}: {exc}") from exc
        if not port:
            raise OSError(f"cannot serve gRPC on {self.address}")
        await self._set_health(health, self._ready())
        await server.start()
        self._server, self._health = server, health
        self._watch = asyncio.get_running_loop().create_task(self._watch_readiness(health))
        return port

    def _ready(self) -> bool:
        try:
            return bool(self.engine.ready)
        except Exception:
            return False

    @staticmethod
    async def _set_health(health: health_aio.HealthServicer, ready: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in ("", SERVICE_NAME):
            await health.set(service, status)

    async def _watch_readiness(self, health: health_aio.HealthServicer) -> None:
        """Health follows engine.ready: NOT_SERVING while the model loads, SERVING once ready."""
        ready = self._ready()
        while True:
            await asyncio.sleep(self._health_poll_s)
            now = self._ready()
            if now != ready:
                ready = now
                await self._set_health(health, ready)
                log.info("gRPC health: %s", "SERVING" if ready else "NOT_SERVING")

    async def _shutdown(self, grace: float) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(grace)
