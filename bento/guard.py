"""API-key auth and a request size limit for everything the HTTP service answers (the API, the
OpenAI-compatible routes, the web UI), as one ASGI middleware.

Keys come from TWIN_API_KEYS (comma-separated) and are compared in constant time; the probes
(/livez, /healthz, /readyz) stay open so an orchestrator can check the process without a key.
Programs send `Authorization: Bearer <key>`; a browser signs in once on /login, which keeps the
key in an HttpOnly, SameSite=Strict cookie (so other sites cannot make it post for the user).
"""

from __future__ import annotations

import hmac
import json
from urllib.parse import quote

from bento.settings import api_keys_from_env, export_max_bytes, transport_from_env

OPEN_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/login", "/static/app.css"})
KEY_COOKIE = "twin_key"
# Export archives (a LinkedIn or Substack export) are far larger than any API request.
UPLOAD_PATHS = frozenset({"/sources/upload"})
# The API takes JSON only. BentoML's own parser answers 500 to some other bodies (a multipart type
# without a boundary, found by schemathesis), so they are refused here with 415.
JSON_PATHS = frozenset({"/generate", "/search", "/feedback", "/v1/chat/completions"})


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def cookie_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, found = part.strip().partition("=")
                if key == KEY_COOKIE:
                    return found
    return None


def wants_page(scope) -> bool:
    """A browser navigating (GET for HTML), which is sent to sign in rather than given a 401."""
    accept = dict(scope["headers"]).get(b"accept", b"")
    return scope["method"] == "GET" and b"text/html" in accept


def media_type(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def key_matches(token: str | None, keys: tuple[str, ...]) -> bool:
    if token is None:
        return False
    # Every key is compared, so the time taken does not tell which one nearly matched.
    return any([hmac.compare_digest(token.encode(), key.encode()) for key in keys])


class GuardMiddleware:
    def __init__(self, app, keys: tuple[str, ...] | None = None, max_request_bytes: int | None = None,
                 max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.keys = api_keys_from_env() if keys is None else keys
        self.max_request_bytes = max_request_bytes or transport_from_env()["max_request_bytes"]
        # The multipart envelope around an archive takes a little more than the archive itself.
        self.max_upload_bytes = max_upload_bytes or export_max_bytes() + 64 * 1024

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.keys and scope["path"] not in OPEN_PATHS:
            token = bearer_token(scope["headers"]) or cookie_key(scope["headers"])
            if not key_matches(token, self.keys):
                if wants_page(scope):
                    await _redirect(send, "/login?next=" + quote(scope["path"]))
                else:
                    await _reply(send, 401, "a valid API key is required: send `Authorization: Bearer <key>`",
                                 [(b"www-authenticate", b"Bearer")])
                return
        if scope["path"] in JSON_PATHS and scope["method"] == "POST" and media_type(scope["headers"]) != "application/json":
            await _reply(send, 415, "send the request body as JSON (Content-Type: application/json)")
            return
        limit = self.max_upload_bytes if scope["path"] in UPLOAD_PATHS else self.max_request_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _reply(send, 413, f"the request body is over {limit} bytes")
            return
        # Bodies without a length (chunked) are read here, up to the limit, and handed on whole.
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await _reply(send, 413, f"the request body is over {limit} bytes")
                return
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _reply(send, status: int, detail: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
