"""An OpenAI-compatible chat endpoint that answers in JSON, for richer dataset instructions.

Optional: with no endpoint configured the datasets are built offline from templates. Answers
are validated (a JSON object with the expected string fields), retried with exponential
backoff on timeouts, 429/5xx and malformed JSON, and cached on disk by a hash of the request,
so a re-run over unchanged documents sends nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from twin_assets.datasets.cache import AnswerCache, cache_key


class LLMError(RuntimeError):
    """The endpoint gave no valid answer after every retry; the message says why."""


@dataclass(frozen=True)
class LLMSettings:
    base_url: str  # e.g. http://127.0.0.1:8000/v1
    model: str
    api_key: str | None = None  # from TWIN_LLM_API_KEY; never logged or stored
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 1.0

    @classmethod
    def from_environment(cls) -> LLMSettings | None:
        """TWIN_LLM_BASE_URL and TWIN_LLM_MODEL (and TWIN_LLM_API_KEY); None when no endpoint is set."""
        base_url = os.environ.get("TWIN_LLM_BASE_URL")
        if not base_url:
            return None
        return cls(base_url, os.environ.get("TWIN_LLM_MODEL", "gpt-4o-mini"), os.environ.get("TWIN_LLM_API_KEY") or None)


class JSONChat:
    def __init__(self, settings: LLMSettings, cache_path: Path) -> None:
        self.settings = settings
        self._cache = AnswerCache(cache_path)
        self.requests = 0  # sent to the endpoint, for metadata and tests

    def close(self) -> None:
        self._cache.close()

    def ask(
        self, system: str, user: str, fields: tuple[str, ...], choices: Mapping[str, Collection[str]] | None = None,
    ) -> dict[str, str]:
        """A JSON object holding non-empty string `fields`, from the cache or the endpoint. A field
        named in `choices` must be one of its values: an answer that is not is retried like a
        malformed one, and never cached."""
        key = cache_key(self.settings.base_url, self.settings.model, system, user)
        cached = self._cache.get(key)
        if cached:
            return cached
        answer = self._ask_endpoint(system, user, fields, choices or {})
        self._cache.put(key, answer)
        return answer

    def _ask_endpoint(
        self, system: str, user: str, fields: tuple[str, ...], choices: Mapping[str, Collection[str]],
    ) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
        body = {
            "model": self.settings.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "response_format": {"type": "json_object"},
            "temperature": 0.7,
        }
        url = self.settings.base_url.rstrip("/") + "/chat/completions"
        problem = "no attempt made"
        for attempt in range(self.settings.retries + 1):
            if attempt:
                time.sleep(self.settings.backoff_s * 2 ** (attempt - 1))
            self.requests += 1
            try:
                response = httpx.post(url, json=body, headers=headers, timeout=self.settings.timeout_s)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise LLMError(f"{url} refused the request: HTTP {response.status_code}")
            try:
                content = response.json()["choices"][0]["message"]["content"]
                answer = json.loads(content)
                if not isinstance(answer, dict) or not all(isinstance(answer.get(f), str) and answer[f].strip() for f in fields):
                    raise ValueError(f"expected a JSON object with string fields {list(fields)}")
                for field, allowed in choices.items():
                    if answer[field].strip() not in allowed:
                        raise ValueError(f"{field} is {answer[field].strip()!r}, not one of {sorted(allowed)}")
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                problem = f"malformed answer: {exc}"
                continue
            return {f: answer[f].strip() for f in fields}
        raise LLMError(f"no valid answer from {url} after {self.settings.retries + 1} attempts ({problem})")


INSTRUCTION_SYSTEM = (
    "You write the request a user would type to get the given text from a writing assistant. "
    'Answer with a JSON object {"instruction": "..."}: one or two sentences, in the imperative, naming the '
    "topic and the kind of piece (LinkedIn post, article section, code file), without quoting the text."
)


def llm_instruction(chat: JSONChat, extract: str, category: str) -> str:
    return chat.ask(INSTRUCTION_SYSTEM, f"Kind of piece: {category}\n\nText:\n{extract}", ("instruction",))["instruction"]


GENERIC_ANSWER_SYSTEM = (
    "You are a general-purpose writing assistant. Answer the request in plain prose, in complete sentences. "
    'Answer with a JSON object {"answer": "..."}.'
)


def llm_answer(chat: JSONChat, instruction: str) -> str:
    """A generic answer to a dataset instruction: the rejected side of a preference pair."""
    return chat.ask(GENERIC_ANSWER_SYSTEM, instruction, ("answer",))["answer"]
