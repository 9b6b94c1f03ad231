"""A small HTTP client of a running twin service, for the CLI, the benchmarks and the tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from bento.schemas import Draft, GenerateRequest, SearchResponse


class ServiceError(RuntimeError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"the twin service answered {status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Event:
    """One server-sent event of a streamed draft: `start`, `message` (a text piece), `done` or `error`."""

    name: str
    data: dict[str, Any]


def parse_events(lines: Iterator[str]) -> Iterator[Event]:
    name, data = "message", []
    for line in lines:
        if line.startswith("event:"):
            name = line[len("event:"):].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:"):].strip())
        elif not line and data:
            yield Event(name, json.loads("\n".join(data)))
            name, data = "message", []
    if data:
        yield Event(name, json.loads("\n".join(data)))


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return str(body.get("detail") or body.get("error") or body)


class TwinClient:
    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = 600.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TwinClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: dict) -> dict:
        response = self._http.post(path, json=body)
        if response.status_code >= 400:
            raise ServiceError(response.status_code, _detail(response))
        return response.json()

    def generate(self, request: GenerateRequest) -> Draft:
        return Draft.model_validate(self._post("/generate", request.model_dump(exclude={"stream"})))

    def stream(self, request: GenerateRequest) -> Iterator[Event]:
        body = {**request.model_dump(), "stream": True}
        with self._http.stream("POST", "/generate", json=body) as response:
            if response.status_code >= 400:
                response.read()
                raise ServiceError(response.status_code, _detail(response))
            yield from parse_events(response.iter_lines())

    def search(self, query: str, k: int = 5, author: str | None = None, category: str | None = None) -> SearchResponse:
        body = {"query": query, "k": k, "author": author, "category": category}
        return SearchResponse.model_validate(self._post("/search", body))

    def feedback(self, trace_id: str, rating: int | None = None, edited_text: str | None = None,
                 reason: str | None = None) -> dict:
        return self._post("/feedback", {"trace_id": trace_id, "rating": rating, "edited_text": edited_text, "reason": reason})
