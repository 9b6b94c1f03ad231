"""The LLM judge against an OpenAI-compatible endpoint on 127.0.0.1 whose answers depend on the
request (which answer sits in position A)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from tests.chat_endpoint import ChatEndpoint
from twin_assets.datasets.llm import JSONChat, LLMError, LLMSettings
from twin_assets.models.judge import (
    PAIRWISE_SYSTEM,
    SCORES_SYSTEM,
    judge_means,
    judge_preference_rate,
    judge_scores,
    pairwise_preference,
)

Reply = Callable[[str, str], dict[str, str]]  # (system, user) -> the JSON object the judge answers

INSTRUCTIONS = ["Write a post about idempotent reruns.", "Write a post about backfills."]
REFERENCES = ["Reruns must be boring. Same input, same output.", "Backfills are reruns with a calendar."]
CANDIDATES = ["[twin] Make reruns boring.", "[twin] A backfill is a rerun, dated."]
PRODUCTION = ["Reruns are an important part of pipelines.", "Backfills are a key concept in data engineering."]


class JudgeServer(ChatEndpoint):
    """Answers with the JSON object reply(system, user) returns."""

    def __init__(self, reply: Reply):
        super().__init__(lambda body, authorization: (200, json.dumps(reply(*(m["content"] for m in body["messages"])))))

    @property
    def bodies(self) -> list[dict]:
        return [body for body, _ in self.requests]


@pytest.fixture
def judge(tmp_path) -> Iterator[Callable[[Reply], tuple[JudgeServer, JSONChat]]]:
    """make(reply): a scripted server and a JSONChat on it, caching under tmp_path."""
    opened: list[tuple[JudgeServer, JSONChat]] = []

    def make(reply: Reply) -> tuple[JudgeServer, JSONChat]:
        server = JudgeServer(reply)
        settings = LLMSettings(server.url, "judge-model", timeout_s=2.0, retries=0, backoff_s=0.0)
        opened.append((server, JSONChat(settings, tmp_path / "judge.sqlite")))
        return opened[-1]

    yield make
    for server, chat in opened:
        chat.close()
        server.close()


def scores(accuracy: str, style: str) -> Reply:
    return lambda system, user: {"accuracy": accuracy, "style": style, "reason": "Close to the reference."}


def picks_the_twin(system: str, user: str) -> dict[str, str]:
    """A perfect blind judge: it recognises the twin's answer by its content, wherever it sits."""
    answer_a = user.split("Answer A:", 1)[1].split("Answer B:", 1)[0]
    return {"choice": "A" if "[twin]" in answer_a else "B", "reason": "Same voice."}


def test_scores_are_parsed_and_the_request_holds_the_three_texts(judge):
    server, chat = judge(scores("3", "2"))
    assert judge_scores(chat, INSTRUCTIONS[0], CANDIDATES[0], REFERENCES[0]) == (3, 2)
    (body,) = server.bodies
    assert body["response_format"] == {"type": "json_object"}
    system, user = (message["content"] for message in body["messages"])
    assert system == SCORES_SYSTEM and "one JSON object" in system
    assert all(text in user for text in (INSTRUCTIONS[0], CANDIDATES[0], REFERENCES[0]))


@pytest.mark.parametrize(("accuracy", "style", "message"), [
    ("4", "2", "accuracy is '4'"), ("0", "2", "accuracy is '0'"), ("3", "excellent", "style is 'excellent'"),
    ("2", "2/3", "style is '2/3'"),
])
def test_a_score_outside_one_to_three_is_an_error(judge, accuracy, style, message):
    _, chat = judge(scores(accuracy, style))
    with pytest.raises(LLMError, match=message):
        judge_scores(chat, INSTRUCTIONS[0], CANDIDATES[0], REFERENCES[0])


def test_an_answer_outside_the_scale_is_not_cached_so_the_next_run_asks_again(judge):
    replies = iter([scores("4", "2"), scores("3", "2")])
    server, chat = judge(lambda system, user: next(replies)(system, user))
    with pytest.raises(LLMError, match="accuracy is '4'"):
        judge_scores(chat, INSTRUCTIONS[0], CANDIDATES[0], REFERENCES[0])
    assert judge_scores(chat, INSTRUCTIONS[0], CANDIDATES[0], REFERENCES[0]) == (3, 2)
    assert len(server.bodies) == 2


def test_pairwise_maps_the_position_to_first_or_second_and_rejects_other_choices(judge):
    _, chat = judge(lambda system, user: {"choice": "B", "reason": "Same voice."})
    assert pairwise_preference(chat, INSTRUCTIONS[0], REFERENCES[0], CANDIDATES[0], PRODUCTION[0]) == "second"
    _, chat = judge(lambda system, user: {"choice": "both", "reason": "Cannot tell."})
    with pytest.raises(LLMError, match="'both'"):
        pairwise_preference(chat, INSTRUCTIONS[1], REFERENCES[1], CANDIDATES[1], PRODUCTION[1])


def test_a_judge_that_always_answers_a_has_no_preference(judge):
    server, chat = judge(lambda system, user: {"choice": "A", "reason": "The first one."})
    assert judge_preference_rate(chat, INSTRUCTIONS, REFERENCES, CANDIDATES, PRODUCTION) == 0.5
    assert len(server.bodies) == 4  # each item asked in both orders
    # The two questions of an item differ only in the order of the answers: the judge is blind.
    first, swapped = (body["messages"][1]["content"] for body in server.bodies[:2])
    assert swapped == first.replace(CANDIDATES[0], "\0").replace(PRODUCTION[0], CANDIDATES[0]).replace("\0", PRODUCTION[0])
    assert all(body["messages"][0]["content"] == PAIRWISE_SYSTEM for body in server.bodies)


def test_a_judge_that_recognises_the_twin_wherever_it_sits_prefers_it_always(judge):
    _, chat = judge(picks_the_twin)
    assert judge_preference_rate(chat, INSTRUCTIONS, REFERENCES, CANDIDATES, PRODUCTION) == 1.0
    assert judge_preference_rate(chat, INSTRUCTIONS, REFERENCES, PRODUCTION, CANDIDATES) == 0.0  # production as candidate


def test_means_average_the_scores_over_the_items(judge):
    def by_answer(system: str, user: str) -> dict[str, str]:
        good = CANDIDATES[0] in user
        return {"accuracy": "3" if good else "1", "style": "3" if good else "2", "reason": "Compared."}

    _, chat = judge(by_answer)
    assert judge_means(chat, INSTRUCTIONS, CANDIDATES, REFERENCES) == {"judge_accuracy": 2.0, "judge_style": 2.5}


def test_repeated_questions_are_answered_from_the_cache(judge, tmp_path):
    server, chat = judge(picks_the_twin)
    assert judge_preference_rate(chat, INSTRUCTIONS, REFERENCES, CANDIDATES, PRODUCTION) == 1.0
    assert judge_preference_rate(chat, INSTRUCTIONS, REFERENCES, CANDIDATES, PRODUCTION) == 1.0
    assert len(server.bodies) == chat.requests == 4
    server, chat = judge(scores("2", "3"))
    assert judge_means(chat, INSTRUCTIONS, CANDIDATES, REFERENCES) == {"judge_accuracy": 2.0, "judge_style": 3.0}
    again = JSONChat(chat.settings, tmp_path / "judge.sqlite")  # a new client on the same cache file
    try:
        assert judge_means(again, INSTRUCTIONS, CANDIDATES, REFERENCES) == {"judge_accuracy": 2.0, "judge_style": 3.0}
        assert again.requests == 0 and len(server.bodies) == 2
    finally:
        again.close()


@pytest.mark.parametrize("short", ["instructions", "references", "candidate_answers", "production_answers"])
def test_mismatched_preference_columns_are_an_error_before_any_request(judge, short):
    server, chat = judge(picks_the_twin)
    columns = {"instructions": INSTRUCTIONS, "references": REFERENCES, "candidate_answers": CANDIDATES,
               "production_answers": PRODUCTION}
    columns[short] = columns[short][:1]
    with pytest.raises(ValueError, match=f"'{short}': 1"):
        judge_preference_rate(chat, **columns)
    assert server.bodies == []


@pytest.mark.parametrize(("instructions", "answers", "references", "message"), [
    (INSTRUCTIONS, CANDIDATES[:1], REFERENCES, "'answers': 1"),
    (INSTRUCTIONS, CANDIDATES, REFERENCES[1:], "'references': 1"),
    ([], [], [], "at least one item"),
])
def test_mismatched_or_empty_score_columns_are_an_error_before_any_request(judge, instructions, answers, references, message):
    server, chat = judge(scores("3", "3"))
    with pytest.raises(ValueError, match=message):
        judge_means(chat, instructions, answers, references)
    with pytest.raises(ValueError, match=message.replace("answers", "candidate_answers")):
        judge_preference_rate(chat, instructions, references, answers, answers)
    assert server.bodies == []
