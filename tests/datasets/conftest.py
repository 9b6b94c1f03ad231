"""An OpenAI-compatible chat server on 127.0.0.1 with scripted behaviours, for the LLM paths."""

import json
import time

import pytest

from tests.chat_endpoint import ChatEndpoint

GENERIC_ANSWER = (
    "Data pipelines are an important part of modern organizations. They move data from one place to another. "
    "There are many best practices to consider, such as monitoring, testing and documentation. "
    "In conclusion, a good pipeline is reliable, scalable and easy to maintain for every team."
)


class ChatServer(ChatEndpoint):
    """Answers with each scripted behaviour in turn (the last repeats)."""

    def __init__(self, *behaviours: str):
        self.behaviours = list(behaviours)
        super().__init__(self._respond)

    @property
    def bodies(self) -> list[dict]:
        return [{"body": body, "auth": authorization} for body, authorization in self.requests]

    def _respond(self, body: dict, authorization: str | None) -> tuple[int, str]:
        behaviour = self.behaviours.pop(0) if len(self.behaviours) > 1 else self.behaviours[0]
        if behaviour == "slow":
            time.sleep(1.0)
        return {
            "ok": (200, json.dumps({"instruction": "Write a post about idempotent reruns."})),
            "answer": (200, json.dumps({"answer": GENERIC_ANSWER})),
            "slow": (200, json.dumps({"instruction": "Too late."})),
            "not-json": (200, "Sure! Here is your instruction: write a post."),
            "wrong-shape": (200, json.dumps({"prompt": "no instruction field"})),
            "error": (503, ""),
        }[behaviour]


@pytest.fixture
def server_factory():
    servers = []

    def make(*behaviours):
        servers.append(ChatServer(*behaviours))
        return servers[-1]

    yield make
    for server in servers:
        server.close()
