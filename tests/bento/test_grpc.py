"""bento/grpc_server.py over real gRPC connections on 127.0.0.1, against a scripted engine that
honours TwinEngine's public interface (the real engine and model are tested end to end elsewhere)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from bento import twin_pb2, twin_pb2_grpc
from bento.engine import Busy, NotReady
from bento.generators import GenerationError
from bento.grpc_server import GrpcServer
from bento.links import LinkError
from bento.prompt_log import UnknownTrace
from bento.schemas import FeedbackRequest, GenerateRequest, SearchRequest, Source
from bento.settings import ServingSettings
from tests.conftest import REPO_ROOT

TIMEOUT = 5.0
SOURCES = [
    Source(document_id="doc-1", title="Idempotent pipelines", url="https://jane.example/idempotency", score=0.81),
    Source(document_id=None, title=None, url="https://example.org/page", score=0.42, kind="link"),
]


class FakeGeneration:
    """Yields its pieces; raises `fail` after `fail_after` pieces; after `hold_after` pieces it waits
    until closed (a model still writing). Counts its closes."""

    def __init__(self, pieces: list[str], fail: Exception | None = None, fail_after: int = 0,
                 hold_after: int | None = None) -> None:
        self.trace_id = "trace-123"
        self.model_version = "twin-jane v2"
        self.sources = list(SOURCES)
        self.pieces, self.fail, self.fail_after, self.hold_after = pieces, fail, fail_after, hold_after
        self.input_tokens = self.output_tokens = 0
        self.closed = threading.Event()
        self.close_calls = 0
        self.written: list[str] = []

    def __iter__(self) -> Iterator[str]:
        try:
            for n, piece in enumerate(self.pieces):
                if self.fail is not None and n == self.fail_after:
                    raise self.fail
                if self.hold_after is not None and n == self.hold_after:
                    self.closed.wait(TIMEOUT)
                    return
                self.written.append(piece)
                self.output_tokens += 1
                yield piece
            self.input_tokens = 11
        finally:
            self.close()

    @property
    def text(self) -> str:
        return "".join(self.written)

    def close(self) -> None:
        self.close_calls += 1
        self.closed.set()


@dataclass
class FakeEngine:
    ready: bool = True
    pieces: list[str] = field(default_factory=lambda: ["Hello", ", ", "world"])
    generate_raises: Exception | None = None
    generation_kwargs: dict[str, Any] = field(default_factory=dict)
    generate_gate: threading.Event | None = None  # generate() waits for it (retrieval still running)
    search_raises: Exception | None = None
    feedback_raises: Exception | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    generations: list[FakeGeneration] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)

    def generate(self, request: GenerateRequest, endpoint: str, operation: str = "text_completion") -> FakeGeneration:
        self.calls.append((endpoint, request))
        self.entered.set()
        if self.generate_gate is not None:
            self.generate_gate.wait(TIMEOUT)
        if self.generate_raises is not None:
            raise self.generate_raises
        generation = FakeGeneration(self.pieces, **self.generation_kwargs)
        self.generations.append(generation)
        return generation

    def search(self, request: SearchRequest, endpoint: str) -> list[Any]:
        self.calls.append((endpoint, request))
        if self.search_raises is not None:
            raise self.search_raises
        hit = {"chunk_id": "c1", "document_id": "doc-1", "url": "https://jane.example/idempotency",
               "title": None, "category": "article", "text": "Retries are safe when writes are idempotent.", "score": 0.9}
        return [SimpleNamespace(as_dict=lambda: dict(hit))][: request.k]

    def feedback(self, request: FeedbackRequest) -> None:
        self.calls.append(("feedback", request))
        if self.feedback_raises is not None:
            raise self.feedback_raises


def settings(tmp_path, **overrides) -> ServingSettings:
    values = {"home": str(tmp_path), "author": "jane", "base_model": "tiny", "grpc_port": 0, "max_request_bytes": 4096}
    return ServingSettings(**{**values, **overrides})


@dataclass
class Running:
    server: GrpcServer
    engine: FakeEngine
    channel: grpc.Channel

    @property
    def twin(self) -> twin_pb2_grpc.TwinStub:
        return twin_pb2_grpc.TwinStub(self.channel)

    @property
    def health(self) -> health_pb2_grpc.HealthStub:
        return health_pb2_grpc.HealthStub(self.channel)


@pytest.fixture
def serve(tmp_path) -> Iterator:
    started: list[Running] = []

    def start(engine: FakeEngine | None = None, **overrides) -> Running:
        engine = engine or FakeEngine()
        server = GrpcServer(engine, settings(tmp_path, **overrides), health_poll_s=0.05)
        port = server.start()
        running = Running(server, engine, grpc.insecure_channel(f"127.0.0.1:{port}"))
        started.append(running)
        return running

    yield start
    for running in started:
        running.channel.close()
        running.server.stop(grace=0.5)


@pytest.fixture
def twin(serve) -> Running:
    return serve()


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        result = call()
        if not isinstance(result, twin_pb2.SearchReply | twin_pb2.FeedbackReply):
            list(result)  # a stream fails when read
    return caught.value


def generate(twin: Running, **fields) -> list[twin_pb2.GenerateReply]:
    return list(twin.twin.Generate(twin_pb2.GenerateRequest(**fields), timeout=TIMEOUT))


# -- Generate ------------------------------------------------------------------------------------


def test_generate_streams_start_then_pieces_then_done(twin):
    replies = generate(twin, prompt="Write about retries")

    assert [r.WhichOneof("event") for r in replies] == ["start", "piece", "piece", "piece", "done"]
    start = replies[0].start
    assert (start.trace_id, start.model_version) == ("trace-123", "twin-jane v2")
    assert [(s.document_id, s.title, s.url, s.score, s.kind) for s in start.sources] == [
        ("doc-1", "Idempotent pipelines", "https://jane.example/idempotency", pytest.approx(0.81), "author"),
        ("", "", "https://example.org/page", pytest.approx(0.42), "link"),
    ]
    assert not start.sources[1].HasField("document_id") and not start.sources[1].HasField("title")
    assert "".join(r.piece for r in replies[1:-1]) == "Hello, world"
    assert (replies[-1].done.input_tokens, replies[-1].done.output_tokens) == (11, 3)
    assert twin.engine.generations[0].closed.is_set()


def test_generate_unset_fields_take_the_http_defaults(twin):
    generate(twin, prompt="Write")
    generate(twin, prompt="Write", author="jane", category="post", links=["https://example.org/a"], k=0,
             max_new_tokens=32, temperature=0.0, seed=7)

    (endpoint, defaults), (_, given) = twin.engine.calls
    assert endpoint == "grpc:Generate"
    assert defaults == GenerateRequest(prompt="Write")
    assert given == GenerateRequest(prompt="Write", author="jane", category="post", links=["https://example.org/a"],
                                    k=0, max_new_tokens=32, temperature=0.0, seed=7)


@pytest.mark.parametrize(("fields", "message"), [
    ({"prompt": ""}, "prompt: String should have at least 1 character"),
    ({"prompt": "   "}, "prompt: Value error, the prompt is empty"),
    ({"prompt": "Write", "k": 21}, "k: Input should be less than or equal to 20"),
    ({"prompt": "Write", "category": "poem"}, "category: Input should be 'article', 'post' or 'repository'"),
    ({"prompt": "Write", "seed": -1}, "seed: Input should be greater than or equal to 0"),
    ({"prompt": "Write", "links": ["https://a.example/"] * 6}, "links: List should have at most 5 items after validation, not 6"),
])
def test_invalid_generate_requests_are_invalid_argument_with_the_validation_message(twin, fields, message):
    error = rpc_error(lambda: generate(twin, **fields))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == message
    assert twin.engine.calls == []


@pytest.mark.parametrize(("raised", "code", "details"), [
    (ValueError("this service serves the twin of 'jane', not 'bob'"), grpc.StatusCode.INVALID_ARGUMENT,
     "this service serves the twin of 'jane', not 'bob'"),
    (LinkError("blocked", "the host resolves to a private address", url="http://10.0.0.8/x"),
     grpc.StatusCode.INVALID_ARGUMENT, "link http://10.0.0.8/x cannot be used (blocked): the host resolves to a private address"),
    (Busy("all 16 generation slots are busy; retry shortly"), grpc.StatusCode.RESOURCE_EXHAUSTED,
     "all 16 generation slots are busy; retry shortly"),
    (NotReady("the model is still loading"), grpc.StatusCode.UNAVAILABLE, "the model is still loading"),
])
def test_engine_refusals_map_to_status_codes(twin, raised, code, details):
    twin.engine.generate_raises = raised

    error = rpc_error(lambda: generate(twin, prompt="Write"))

    assert (error.code(), error.details()) == (code, details)


def test_a_generation_timeout_mid_stream_is_deadline_exceeded_after_the_pieces_sent(twin):
    twin.engine.generation_kwargs = {"fail": GenerationError("timeout", "ran past 300 s"), "fail_after": 2}
    replies = []

    with pytest.raises(grpc.RpcError) as caught:
        for reply in twin.twin.Generate(twin_pb2.GenerateRequest(prompt="Write"), timeout=TIMEOUT):
            replies.append(reply)

    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert [r.WhichOneof("event") for r in replies] == ["start", "piece", "piece"]
    assert twin.engine.generations[0].closed.is_set()


@pytest.mark.parametrize("raised", [
    GenerationError("cuda", "CUDA out of memory at /secret/path/model.py:12"),
    RuntimeError("KeyError in /secret/path/engine.py"),
])
def test_other_failures_are_internal_without_internals(twin, raised):
    twin.engine.generation_kwargs = {"fail": raised, "fail_after": 1}

    error = rpc_error(lambda: generate(twin, prompt="Write"))

    assert error.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in error.details() and "Traceback" not in error.details()
    assert twin.engine.generations[0].closed.is_set()


def test_a_client_cancelling_mid_stream_closes_the_generation(twin):
    twin.engine.generation_kwargs = {"hold_after": 1}  # one piece, then the model keeps writing
    call = twin.twin.Generate(twin_pb2.GenerateRequest(prompt="Write"), timeout=TIMEOUT)
    assert next(call).WhichOneof("event") == "start"
    assert next(call).piece == "Hello"

    call.cancel()

    generation = twin.engine.generations[0]
    assert generation.closed.wait(2.0), "the generation kept running after the client left"
    assert generation.written == ["Hello"]


def test_a_draft_in_progress_does_not_block_other_calls(twin):
    twin.engine.generation_kwargs = {"hold_after": 1}  # the model is busy writing its second piece
    call = twin.twin.Generate(twin_pb2.GenerateRequest(prompt="Write"), timeout=TIMEOUT)
    next(call), next(call)

    started = time.monotonic()
    assert twin.twin.Search(twin_pb2.SearchRequest(query="q"), timeout=1.0).results
    assert health_status(twin, "") == health_pb2.HealthCheckResponse.SERVING
    assert time.monotonic() - started < 1.0
    call.cancel()


def test_a_client_leaving_while_the_engine_prepares_still_frees_the_generation(twin):
    twin.engine.generate_gate = gate = threading.Event()
    call = twin.twin.Generate(twin_pb2.GenerateRequest(prompt="Write"), timeout=TIMEOUT)
    assert twin.engine.entered.wait(2.0)

    call.cancel()
    time.sleep(0.1)
    gate.set()  # the engine took a slot for a client that is gone

    deadline = time.monotonic() + 2.0
    while not twin.engine.generations and time.monotonic() < deadline:
        time.sleep(0.01)
    assert twin.engine.generations[0].closed.wait(2.0)
    assert twin.engine.generations[0].written == []


def test_a_request_over_the_size_limit_is_resource_exhausted(twin):
    error = rpc_error(lambda: generate(twin, prompt="x" * 5000))  # max_request_bytes=4096

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert twin.engine.calls == []


# -- Search and Feedback -------------------------------------------------------------------------


def test_search_returns_the_hits(twin):
    reply = twin.twin.Search(twin_pb2.SearchRequest(query="retries", k=3, category="article"), timeout=TIMEOUT)

    assert [(h.chunk_id, h.document_id, h.category, h.score) for h in reply.results] == [
        ("c1", "doc-1", "article", pytest.approx(0.9))]
    assert not reply.results[0].HasField("title")
    assert twin.engine.calls == [("grpc:Search", SearchRequest(query="retries", k=3, category="article"))]


def test_search_validates_and_maps_engine_errors(twin):
    error = rpc_error(lambda: twin.twin.Search(twin_pb2.SearchRequest(query="q", k=0), timeout=TIMEOUT))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "k: Input should be greater than or equal to 1")

    twin.engine.search_raises = NotReady("the vector index is still loading")
    error = rpc_error(lambda: twin.twin.Search(twin_pb2.SearchRequest(query="q"), timeout=TIMEOUT))
    assert (error.code(), error.details()) == (grpc.StatusCode.UNAVAILABLE, "the vector index is still loading")


def test_feedback_is_recorded(twin):
    reply = twin.twin.Feedback(twin_pb2.FeedbackRequest(trace_id="trace-123", rating=0, edited_text="Better."),
                               timeout=TIMEOUT)

    assert (reply.trace_id, reply.recorded) == ("trace-123", True)
    assert twin.engine.calls == [("feedback", FeedbackRequest(trace_id="trace-123", rating=0, edited_text="Better."))]


def test_feedback_errors(twin):
    twin.engine.feedback_raises = UnknownTrace("nope")
    error = rpc_error(lambda: twin.twin.Feedback(twin_pb2.FeedbackRequest(trace_id="nope", rating=1), timeout=TIMEOUT))
    assert error.code() == grpc.StatusCode.NOT_FOUND and "nope" in error.details()

    twin.engine.feedback_raises = ValueError("give a rating, an edit or a reason")
    error = rpc_error(lambda: twin.twin.Feedback(twin_pb2.FeedbackRequest(trace_id="t"), timeout=TIMEOUT))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "give a rating, an edit or a reason")

    error = rpc_error(lambda: twin.twin.Feedback(twin_pb2.FeedbackRequest(trace_id="t", rating=5), timeout=TIMEOUT))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, "rating: Input should be less than or equal to 1")


# -- health, reflection, auth, lifecycle ---------------------------------------------------------


def health_status(running: Running, service: str) -> int:
    return running.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT).status


def test_health_is_not_serving_until_the_engine_is_ready(serve):
    running = serve(FakeEngine(ready=False))
    for service in ("", "twin.v1.Twin"):
        assert health_status(running, service) == health_pb2.HealthCheckResponse.NOT_SERVING

    running.engine.ready = True
    deadline = time.monotonic() + 2.0
    while health_status(running, "twin.v1.Twin") != health_pb2.HealthCheckResponse.SERVING:
        assert time.monotonic() < deadline, "health never turned SERVING"
        time.sleep(0.02)
    assert health_status(running, "") == health_pb2.HealthCheckResponse.SERVING


def reflected_services(running: Running) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(running.channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=TIMEOUT)
    return {service.name for reply in replies for service in reply.list_services_response.service}


def test_reflection_lists_the_twin_service(twin):
    assert {"twin.v1.Twin", "grpc.health.v1.Health"} <= reflected_services(twin)


def test_api_keys_guard_the_twin_rpcs_but_not_health_or_reflection(serve):
    running = serve(api_keys=("key-one", "key-two"))
    calls = {
        "Generate": lambda md: list(running.twin.Generate(twin_pb2.GenerateRequest(prompt="Write"), metadata=md, timeout=TIMEOUT)),
        "Search": lambda md: running.twin.Search(twin_pb2.SearchRequest(query="q"), metadata=md, timeout=TIMEOUT),
        "Feedback": lambda md: running.twin.Feedback(twin_pb2.FeedbackRequest(trace_id="t", rating=1), metadata=md, timeout=TIMEOUT),
    }
    for name, call in calls.items():
        for metadata in (None, [("authorization", "Bearer wrong")], [("authorization", "key-one")],
                         [("authorization", "Basic key-one")], [("authorization", "Bearer ")]):
            with pytest.raises(grpc.RpcError) as caught:
                call(metadata)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, (name, metadata)
    assert running.engine.calls == []

    for name, call in calls.items():
        call([("authorization", "Bearer key-two")])
    assert [endpoint for endpoint, _ in running.engine.calls] == ["grpc:Generate", "grpc:Search", "feedback"]

    assert health_status(running, "") == health_pb2.HealthCheckResponse.SERVING
    assert "twin.v1.Twin" in reflected_services(running)


def test_a_port_in_use_fails_start_and_stop_is_idempotent(serve, tmp_path):
    first = serve()
    with pytest.raises(OSError):
        GrpcServer(FakeEngine(), settings(tmp_path, grpc_port=first.server.port)).start()

    first.server.stop(grace=0.1)
    first.server.stop(grace=0.1)
    with pytest.raises(grpc.RpcError):
        health_status(first, "")


def test_the_committed_stubs_match_the_proto():
    result = subprocess.run([sys.executable, "bento/build_stubs.py", "--check"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
