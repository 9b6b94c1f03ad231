"""The guard in front of every HTTP route: API keys, JSON only on the API, a body size limit."""

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bento.guard import GuardMiddleware, bearer_token, key_matches


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


def client(keys=("k1", "k2"), max_request_bytes=2048) -> TestClient:
    app = Starlette(routes=[Route(path, echo, methods=["GET", "POST"]) for path in ("/generate", "/readyz", "/ui")])
    return TestClient(GuardMiddleware(app, keys=keys, max_request_bytes=max_request_bytes))


def test_bearer_tokens_are_read_from_the_authorization_header_only():
    assert bearer_token([(b"authorization", b"Bearer abc")]) == "abc"
    assert bearer_token([(b"Authorization", b"bearer  abc ")]) == "abc"
    assert bearer_token([(b"authorization", b"Basic abc")]) is None
    assert bearer_token([(b"x-api-key", b"abc")]) is None
    assert key_matches("k2", ("k1", "k2")) and not key_matches("k", ("k1", "k2")) and not key_matches(None, ("k1",))


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Bearer k2"}, 200),
])
def test_every_route_but_the_probes_needs_a_key(headers, status):
    with client() as c:
        assert c.post("/generate", json={}, headers=headers).status_code == status
        assert c.get("/readyz").status_code == 200
        assert c.get("/ui", headers=headers).status_code == status


def test_without_keys_everything_is_open():
    with client(keys=()) as c:
        assert c.post("/generate", json={}).status_code == 200


def test_the_api_takes_json_only():
    with client() as c:
        auth = {"Authorization": "Bearer k1"}
        refused = c.post("/generate", content=b"a=1", headers={**auth, "Content-Type": "multipart/form-data"})
        assert refused.status_code == 415 and "JSON" in refused.json()["detail"]
        assert c.post("/ui", content=b"a=1", headers={**auth, "Content-Type": "application/x-www-form-urlencoded"}).status_code == 200


def test_bodies_over_the_limit_are_refused_with_or_without_a_declared_length():
    with client() as c:
        auth = {"Authorization": "Bearer k1", "Content-Type": "application/json"}
        assert c.post("/generate", content=b"x" * 2049, headers=auth).status_code == 413
        chunked = c.post("/generate", content=iter([b"x" * 1500, b"x" * 1500]), headers=auth)
        assert chunked.status_code == 413
        fits = c.post("/generate", content=iter([b"x" * 1000, b"x" * 1000]), headers=auth)
        assert fits.status_code == 200 and fits.json() == {"bytes": 2000}
