"""Signing in from a browser: the API key, once, kept in an HttpOnly cookie."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from bento.guard import KEY_COOKIE, key_matches
from bento.ui import render

router = APIRouter()


def _safe_next(target: str) -> str:
    """Only a path on this site: never an absolute URL another site could be sent to."""
    return target if target.startswith("/") and not target.startswith("//") else "/write"


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/write"):
    return render(request, "login.html", next=_safe_next(next))


@router.post("/login", include_in_schema=False)
def sign_in(request: Request, key: str = Form(...), next: str = Form("/write")):
    keys = request.app.state.settings.key_values()
    if keys and not key_matches(key, tuple(keys)):
        return render(request, "login.html", status_code=401, next=_safe_next(next), error="That key is not valid.")
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(KEY_COOKIE, key, httponly=True, samesite="strict")
    return response
