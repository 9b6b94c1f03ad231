"""The real service (`bentoml serve`) on 127.0.0.1 with the tiny model: every endpoint, streaming,
auth, links, bad input, prompt logs, and a hot swap under 16 concurrent clients."""

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from bento.client import TwinClient
from bento.engine import TwinEngine
from bento.schemas import GenerateRequest
from bento.settings import ServingSettings
from tests.bento.serving import AUTHOR, EMBEDDING_MODEL, register_model, serving
from twin_assets.lake import Lake
from twin_assets.lake.tables import PROMPT_LOGS

API_KEY = "test-key-1"


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_base_model):
    home = tmp_path_factory.mktemp("serving-home")
    with serving(home, tiny_base_model, TWIN_API_KEYS=f"{API_KEY},second-key") as service:
        yield service, home


def test_probes_are_open_and_everything_else_needs_a_key(served):
    service, _ = served
    with service.client() as client:
        for probe in ("/livez", "/healthz", "/readyz"):
            assert client.get(probe, headers={"Authorization": ""}).status_code == 200
        anonymous = client.post("/search", json={"query": "dashboards"}, headers={"Authorization": ""})
        assert anonymous.status_code == 401 and "API key" in anonymous.json()["detail"]
        wrong = client.post("/search", json={"query": "dashboards"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert client.post("/search", json={"query": "dashboards"}, headers={"Authorization": "Bearer second-key"}).status_code == 200


def test_generate_answers_with_sources_from_the_index_and_the_production_version(served):
    service, _ = served
    with TwinClient(service.url, API_KEY) as client:
        draft = client.generate(GenerateRequest(prompt="Write a post about when to build a dashboard", seed=7,
                                                max_new_tokens=24))
        again = client.generate(GenerateRequest(prompt="Write a post about when to build a dashboard", seed=7,
                                                max_new_tokens=24))
    assert draft.text and draft.model_version == "twin-jane v1"
    assert draft.sources[0].url == "https://jane.example/dashboards" and draft.sources[0].kind == "author"
    assert draft.output_tokens > 0 and len(draft.trace_id) == 32
    assert again.text == draft.text and again.trace_id != draft.trace_id  # a seed makes a draft repeatable


def test_generate_streams_a_start_event_text_pieces_and_a_done_event(served):
    service, _ = served
    with TwinClient(service.url, API_KEY) as client:
        events = list(client.stream(GenerateRequest(prompt="Write about reruns", max_new_tokens=12, category="article")))
    assert events[0].name == "start" and events[-1].name == "done"
    # The category filter leaves the post out.
    assert [s["url"] for s in events[0].data["sources"]] == ["https://jane.example/idempotency"]
    pieces = [e.data["text"] for e in events[1:-1]]
    assert pieces and all(e.name == "message" for e in events[1:-1])
    assert "".join(pieces).strip() == events[-1].data["text"]
    assert events[-1].data["output_tokens"] >= len(pieces) and events[-1].data["input_tokens"] > 0


def test_search_answers_the_twin_search_json_shape(served):
    service, _ = served
    with service.client() as client:
        body = client.post("/search", json={"query": "rerun twice duplicate rows", "k": 2}).json()
    assert set(body) == {"results"}
    first = body["results"][0]
    assert set(first) == {"chunk_id", "document_id", "url", "title", "category", "text", "score"}
    assert first["document_id"] == "https://jane.example/idempotency"


def test_links_add_knowledge_and_unsafe_links_are_refused(served, linked_page):
    service, _ = served
    with TwinClient(service.url, API_KEY) as client:
        draft = client.generate(GenerateRequest(prompt="Write a post about the scheduler release", links=[linked_page],
                                                max_new_tokens=8))
        assert [s.url for s in draft.sources if s.kind == "link"] == [linked_page]
        assert next(s for s in draft.sources if s.kind == "link").document_id is None
        with service.client() as raw:
            for unsafe in ("http://169.254.169.254/latest/meta-data", "file:///etc/passwd", "http://10.1.2.3/"):
                refused = raw.post("/generate", json={"prompt": "hi", "links": [unsafe]})
                assert refused.status_code == 422, unsafe
                assert "cannot be used" in refused.json()["detail"]


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"prompt": ""}, 422, "prompt"),
    ({"prompt": "   "}, 422, "empty"),
    ({"prompt": "hi", "k": -1}, 422, "k"),
    ({"prompt": "hi", "temperature": 9}, 422, "temperature"),
    ({"prompt": "hi", "category": "poem"}, 422, "category"),
    ({"prompt": "hi", "unknown": 1}, 422, "unknown"),
    ({"prompt": "hi", "author": "omar"}, 400, "twin of 'jane'"),
    ({"prompt": "hi", "links": ["http://a.example"] * 6}, 422, "links"),
])
def test_bad_generate_requests_get_a_clear_4xx(served, body, status, says):
    service, _ = served
    with service.client() as client:
        response = client.post("/generate", json=body)
    assert response.status_code == status
    assert says in json.dumps(response.json())


def test_a_body_over_the_limit_is_refused_before_it_is_read(served):
    service, _ = served
    with service.client() as client:
        response = client.post("/generate", content=b'{"prompt": "' + b"x" * 1_100_000 + b'"}',
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_openai_compatible_chat_completions_plain_and_streamed(served):
    service, _ = served
    body = {"model": "twin", "messages": [{"role": "system", "content": "be brief"},
                                          {"role": "user", "content": "Write about dashboards"}],
            "max_tokens": 10, "seed": 3, "logprobs": False}
    with service.client() as client:
        plain = client.post("/v1/chat/completions", json=body).json()
        assert plain["object"] == "chat.completion" and plain["model"] == "twin-jane v1"
        assert plain["choices"][0]["message"]["role"] == "assistant" and plain["choices"][0]["message"]["content"]
        assert plain["usage"]["completion_tokens"] > 0 and plain["sources"]
        with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
            lines = [line for line in response.iter_lines() if line.startswith("data:")]
        no_user = client.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]})
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[5:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert streamed.strip() == plain["choices"][0]["message"]["content"]  # same seed, same text
    assert no_user.status_code == 400 and "no user message" in no_user.json()["detail"]


def _logged(home, trace_id, timeout_s=20.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lake = Lake(str(home))
        if lake.exists(PROMPT_LOGS):
            rows = lake.read(PROMPT_LOGS).filter(pl.col("trace_id") == trace_id)
            if rows.height and (rows["feedback_at"][0] is not None or rows["answer"][0]):
                return rows.row(0, named=True)
        time.sleep(0.3)
    raise AssertionError(f"{trace_id} never reached prompt_logs")


def test_every_request_is_logged_and_feedback_lands_on_its_row(served):
    service, home = served
    with TwinClient(service.url, API_KEY) as client:
        draft = client.generate(GenerateRequest(prompt="Write a post about idempotent jobs", max_new_tokens=8,
                                                category="article"))
        row = _logged(home, draft.trace_id)
        assert row["endpoint"] == "http:/generate" and row["model_version"] == "twin-jane v1"
        assert row["answer"] == draft.text and row["output_tokens"] == draft.output_tokens
        assert row["retrieved_chunk_ids"] and row["time_to_first_token_s"] <= row["latency_s"]
        client.feedback(draft.trace_id, rating=1, edited_text="My own, better version of the post.")
        with service.client() as raw:
            assert raw.post("/feedback", json={"trace_id": "0" * 32, "rating": 1}).status_code == 404
            assert raw.post("/feedback", json={"trace_id": draft.trace_id, "rating": 5}).status_code == 400
    row = _logged(home, draft.trace_id)
    assert row["feedback_rating"] == 1 and row["feedback_edited_text"] == "My own, better version of the post."


def test_metrics_carry_the_engines_counters(served):
    service, _ = served
    with service.client() as client:
        text = client.get("/metrics").text
    assert "twin_output_tokens_total" in text and "twin_time_to_first_token_seconds_bucket" in text
    assert 'twin_requests_total{endpoint="http:/generate",outcome="ok"}' in text


def test_grpc_generate_streams_and_search_answers_from_the_same_engine(served):
    import grpc

    from bento import twin_pb2, twin_pb2_grpc

    service, _ = served
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        stub = twin_pb2_grpc.TwinStub(channel)
        auth = (("authorization", f"Bearer {API_KEY}"),)
        replies = list(stub.Generate(twin_pb2.GenerateRequest(prompt="Write about dashboards", max_new_tokens=6),
                                     metadata=auth, timeout=60))
        found = stub.Search(twin_pb2.SearchRequest(query="dashboards", k=1), metadata=auth, timeout=30)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Search(twin_pb2.SearchRequest(query="dashboards"), timeout=30)
    assert replies[0].WhichOneof("event") == "start" and replies[0].start.model_version == "twin-jane v1"
    assert replies[-1].WhichOneof("event") == "done"
    assert found.results[0].document_id == "https://jane.example/dashboards"
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_openai_engine_writes_through_a_real_openai_compatible_server(served):
    """TWIN_ENGINE=openai: this engine keeps retrieval and prompts and sends generation to another
    server's /v1/chat/completions: here the running twin service, a real OpenAI-compatible server."""
    service, home = served
    engine = TwinEngine(ServingSettings(
        home=str(home), author=AUTHOR, base_model="unused", engine="openai", engine_base_url=f"{service.url}/v1",
        engine_model="twin", engine_api_key=API_KEY, swap_poll_s=0, embedding_model=EMBEDDING_MODEL,
    ))
    engine.load()
    try:
        generation = engine.generate(GenerateRequest(prompt="Write about dashboards", max_new_tokens=6, seed=1), "http:/generate")
        pieces = list(generation)
    finally:
        engine.close()
    assert generation.model_version == "openai:twin" and pieces and generation.output_tokens > 0
    assert generation.sources[0].url == "https://jane.example/dashboards"


def test_schemathesis_finds_no_server_error_in_the_openapi_schema(served, tmp_path):
    service, _ = served
    st = str(Path(sys.executable).parent / "st")
    run = subprocess.run(
        [st, "run", f"{service.url}/docs.json", "--checks", "not_a_server_error", "--max-examples", "12",
         "--generation-deterministic", "-H", f"Authorization: Bearer {API_KEY}", "--request-timeout", "120"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,  # its cache folder lands there
    )
    assert run.returncode == 0, run.stdout[-4000:]


def _twin(*args, **env) -> subprocess.CompletedProcess:
    twin = str(Path(sys.executable).parent / "twin")
    return subprocess.run([twin, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **env})


def test_the_cli_asks_a_running_service_or_does_the_work_itself(served):
    service, home = served
    remote = {"TWIN_URL": service.url, "TWIN_API_KEY": API_KEY}
    searched = _twin("search", "dashboards", "--k", "1", "--json", **remote)
    assert searched.returncode == 0, searched.stderr
    assert json.loads(searched.stdout)["results"][0]["document_id"] == "https://jane.example/dashboards"
    streamed = _twin("generate", "Write about dashboards", "--stream", "--max-new-tokens", "6", **remote)
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout.strip() and "https://jane.example/dashboards" in streamed.stderr
    refused = _twin("generate", "hi", "--url", service.url)  # no key
    assert refused.returncode == 1 and "401" in refused.stderr
    local = _twin("generate", "Write about reruns", "--max-new-tokens", "4", "--k", "1", TWIN_HOME=str(home),
                  TWIN_AUTHOR=AUTHOR, TWIN_EMBEDDING_MODEL=EMBEDDING_MODEL)
    assert local.returncode == 0, local.stderr
    assert local.stdout.strip() and "model twin-jane v" in local.stderr
    bad = _twin("generate", "hi", "--k", "-2", **remote)
    assert bad.returncode == 2 and "k:" in bad.stderr


def test_promoting_a_version_swaps_it_in_with_no_failed_request_under_16_clients(served, tiny_base_model):
    service, home = served
    stop = threading.Event()
    seen: list[str] = []
    failures: list[str] = []

    def client_loop() -> None:
        with service.client() as client:
            while not stop.is_set():
                response = client.post("/generate", json={"prompt": "Write about reruns", "max_new_tokens": 4, "k": 1})
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                else:
                    seen.append(response.json()["model_version"])

    with ThreadPoolExecutor(16) as pool:
        for _ in range(16):
            pool.submit(client_loop)
        time.sleep(3)
        register_model(home, tiny_base_model, "second")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "twin-jane v2" not in seen[-16:]:
            time.sleep(0.5)
        time.sleep(2)
        stop.set()
    assert not failures
    assert "twin-jane v1" in seen and seen[-1] == "twin-jane v2"
    assert seen.index("twin-jane v2") > 0 and "twin-jane v1" not in seen[-8:]


def test_a_clean_shutdown_writes_every_request_to_prompt_logs(served):
    service, home = served
    with service.client() as client:
        traces = [client.post("/generate", json={"prompt": f"note {n}", "max_new_tokens": 2}).json()["trace_id"]
                  for n in range(5)]
    assert service.stop() in (0, -15)
    logged = set(Lake(str(home)).read(PROMPT_LOGS)["trace_id"].to_list())
    assert set(traces) <= logged
