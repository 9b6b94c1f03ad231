"""The engine in-process with the tiny model: base model until a promotion, slots, cancellation,
timeouts, refused links, and prompt logs for failures too."""

import time

import polars as pl
import pytest

from bento.engine import Busy, NotReady, TwinEngine
from bento.generators import GenerationError
from bento.links import LinkError
from bento.schemas import GenerateRequest
from bento.settings import ServingSettings
from tests.bento.serving import AUTHOR, EMBEDDING_MODEL, build_index
from twin_assets.features.embedding import Embedder
from twin_assets.lake import Lake
from twin_assets.lake.tables import PROMPT_LOGS


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine-home")
    build_index(folder, Embedder(EMBEDDING_MODEL))
    return folder


def engine_for(home, base, **settings) -> TwinEngine:
    values = dict(home=str(home), author=AUTHOR, base_model=str(base), swap_poll_s=0, embedding_model=EMBEDDING_MODEL)
    return TwinEngine(ServingSettings(**{**values, **settings}))


@pytest.fixture
def engine(home, tiny_base_model):
    engine = engine_for(home, tiny_base_model, max_concurrency=1)
    engine.load()
    yield engine
    engine.close()


def test_before_loading_the_engine_is_not_ready(home, tiny_base_model):
    engine = engine_for(home, tiny_base_model)
    assert not engine.ready
    with pytest.raises(NotReady):
        engine.generate(GenerateRequest(prompt="hi"), "http:/generate")


def test_with_nothing_promoted_the_base_model_is_served_and_says_so(engine, tiny_base_model):
    draft = engine.generate(GenerateRequest(prompt="Write about dashboards", max_new_tokens=4), "http:/generate").draft()
    assert engine.ready and draft.model_version == f"base:{tiny_base_model}"
    assert draft.sources and 0 < draft.output_tokens <= 4


def test_no_free_slot_is_refused_at_once_and_closing_a_draft_frees_its_slot(engine):
    first = engine.generate(GenerateRequest(prompt="one", max_new_tokens=4), "http:/generate")
    with pytest.raises(Busy):
        engine.generate(GenerateRequest(prompt="two", max_new_tokens=4), "http:/generate")
    first.close()  # never iterated: closing alone must free the slot
    engine.generate(GenerateRequest(prompt="three", max_new_tokens=4), "http:/generate").draft()


def test_a_reader_that_stops_early_stops_the_model(engine):
    generation = engine.generate(GenerateRequest(prompt="Write a long post", max_new_tokens=400, temperature=0.9),
                                 "http:/generate")
    pieces = iter(generation)
    next(pieces)
    generation.close()
    assert generation.output_tokens < 400
    engine.generate(GenerateRequest(prompt="next", max_new_tokens=2), "http:/generate").draft()  # the slot is free


def test_a_draft_past_the_request_timeout_fails_with_timeout(home, tiny_base_model):
    engine = engine_for(home, tiny_base_model, request_timeout_s=0.05)
    engine.load()
    try:
        generation = engine.generate(GenerateRequest(prompt="Write", max_new_tokens=2000), "http:/generate")
        time.sleep(0.1)
        with pytest.raises(GenerationError) as failed:
            generation.draft()
        assert failed.value.kind == "timeout" and generation.output_tokens < 2000
    finally:
        engine.close()


def test_refused_links_and_bad_requests_fail_before_a_slot_is_taken_and_are_logged(engine, home):
    with pytest.raises(LinkError) as refused:
        engine.generate(GenerateRequest(prompt="hi", links=["http://169.254.169.254/latest"]), "http:/generate")
    assert refused.value.kind == "blocked_address"
    with pytest.raises(ValueError, match="twin of 'jane'"):
        engine.generate(GenerateRequest(prompt="hi", author="omar"), "http:/generate")
    engine.generate(GenerateRequest(prompt="still served", max_new_tokens=2), "http:/generate").draft()
    engine.logs.flush()
    errors = Lake(str(home)).read(PROMPT_LOGS).filter(pl.col("prompt") == "hi")["error"].to_list()
    assert "blocked_address" in errors


def test_the_grounded_prompt_carries_the_authors_passages_in_retrieval_order_then_the_request(engine):
    context = engine.context(GenerateRequest(prompt="Write about dashboards and reruns", k=2))
    instruction = context.instruction("Write about dashboards and reruns")
    assert instruction.startswith("Some of your earlier writing on this:\n\n" + context.passages[0].text.strip()[:40])
    assert instruction.endswith("---\n\nWrite about dashboards and reruns")
    positions = [instruction.index(p.text.strip()[:40]) for p in context.passages]
    assert positions == sorted(positions) and len(positions) == 2
    assert [s.url for s in context.sources()] == [p.url for p in context.passages]
