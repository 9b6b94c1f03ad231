"""The models page: production and every other registered version of the served author's twin side
by side with their numbers from `model_evaluation`, bar charts, each version's lineage, and
promote / roll back behind a confirmation step (plain POST forms, redirected after success).

Moving `production` goes through the registry (`promote`, `rollback`, recorded as moved by "web
UI" with the reason given); the engine notices within TWIN_SWAP_POLL_S and swaps by itself.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse

from bento.ui import render
from bento.ui.dashboards import comparison, comparison_charts, lineage

router = APIRouter()
log = logging.getLogger("twin.ui.models")
WHO = "web UI"


def _registry(settings: Any) -> dict[str, Any]:
    from twin_assets.models.registry import (
        PRODUCTION,
        get_version_by_alias,
        list_versions,
        model_name,
        production_history,
        production_stack,
    )

    home, author = settings.state_dir, settings.author
    versions = list_versions(home, author)
    production = get_version_by_alias(home, author, PRODUCTION)
    history = production_history(home, author)
    stack = production_stack(history)
    return {
        "name": model_name(author), "versions": versions, "production": production.version if production else None,
        "history": list(reversed(history)), "rollback_to": stack[-2] if len(stack) >= 2 else None,
    }


def _evaluations(settings: Any):
    from twin_assets.lake import MODEL_EVALUATION, Lake

    return Lake(settings.home).read(MODEL_EVALUATION)


def _serving(request: Request) -> dict[str, Any]:
    engine = getattr(request.app.state, "engine", None)
    ready = engine is not None and engine.ready
    return {"served": engine.model.version if ready else None,
            "served_version": engine.model.registry_version if ready else None,
            "swap_poll_s": request.app.state.settings.swap_poll_s}


def _notice(moved: str | None, version: int | None) -> str | None:
    """The message after a move (POST-redirect-GET): only the action and a number travel in the URL."""
    if moved not in ("promote", "rollback") or version is None:
        return None
    verb = "promoted to" if moved == "promote" else "rolled back into"
    return f"Version {version} was {verb} production."


def _page(request: Request, status_code: int = 200, error: str | None = None, notice: str | None = None,
          confirm: dict[str, Any] | None = None):
    settings = request.app.state.settings
    registry = _registry(settings)
    serving = _serving(request)
    table = comparison(registry["versions"], registry["production"], _evaluations(settings))
    return render(
        request, "models.html", status_code=status_code, registry=registry, serving=serving, table=table,
        charts=comparison_charts(table), lineage=lineage(table.columns), error=error, notice=notice, confirm=confirm,
        dagster=settings.dagster_url,
    )


@router.get("/models", include_in_schema=False)
def models_page(request: Request, moved: str | None = None, version: int | None = None):
    return _page(request, notice=_notice(moved, version))


@router.get("/models/serving", include_in_schema=False)
def serving_now(request: Request) -> JSONResponse:
    """What the engine serves now and what production points at, for the page to follow a swap."""
    from twin_assets.models.registry import PRODUCTION, get_version_by_alias

    settings = request.app.state.settings
    production = get_version_by_alias(settings.state_dir, settings.author, PRODUCTION)
    return JSONResponse({**_serving(request), "production": production.version if production else None})


def _find(registry: dict[str, Any], version: int):
    return next((v for v in registry["versions"] if v.version == version), None)


@router.get("/models/promote", include_in_schema=False)
def confirm_promotion(request: Request, version: int):
    settings = request.app.state.settings
    registry = _registry(settings)
    target = _find(registry, version)
    if target is None:
        return _page(request, 404, error=f"{registry['name']} has no version {version}: nothing was moved.")
    if version == registry["production"]:
        return _page(request, 409, error=f"Version {version} is already in production: nothing was moved.")
    return _page(request, confirm={"action": "promote", "version": version, "target": target,
                                   "current": registry["production"]})


@router.post("/models/promote", include_in_schema=False)
def promote_version(request: Request, version: int = Form(...), reason: str = Form("")):
    from twin_assets.models.registry import PRODUCTION, get_version_by_alias, promote

    settings = request.app.state.settings
    reason = reason.strip()
    current = get_version_by_alias(settings.state_dir, settings.author, PRODUCTION)
    if current is not None and current.version == version:
        return _page(request, 409, error=f"Version {version} is already in production: nothing was moved.")
    if not reason:
        registry = _registry(settings)
        target = _find(registry, version)
        if target is None:
            return _page(request, 404, error=f"{registry['name']} has no version {version}: nothing was moved.")
        return _page(request, 400, error="Say why: the reason is recorded with the move.",
                     confirm={"action": "promote", "version": version, "target": target, "current": registry["production"]})
    try:
        moved = promote(settings.state_dir, settings.author, version, WHO, reason)
    except ValueError as exc:
        return _page(request, 404, error=f"{exc}: nothing was moved.")
    log.info("production moved to version %s from the web UI: %s", moved.version, reason)
    return RedirectResponse(f"/models?moved=promote&version={moved.version}", status_code=303)


@router.get("/models/rollback", include_in_schema=False)
def confirm_rollback(request: Request):
    registry = _registry(request.app.state.settings)
    if registry["rollback_to"] is None:
        return _page(request, 409, error=f"{registry['name']} has no earlier production version to roll back to: "
                                         "nothing was moved.")
    return _page(request, confirm={"action": "rollback", "version": registry["rollback_to"],
                                   "target": _find(registry, registry["rollback_to"]), "current": registry["production"]})


@router.post("/models/rollback", include_in_schema=False)
def roll_back(request: Request, reason: str = Form("")):
    from twin_assets.models.registry import rollback

    settings = request.app.state.settings
    reason = reason.strip()
    if not reason:
        registry = _registry(settings)
        confirm = ({"action": "rollback", "version": registry["rollback_to"], "current": registry["production"],
                    "target": _find(registry, registry["rollback_to"])} if registry["rollback_to"] is not None else None)
        return _page(request, 400, error="Say why: the reason is recorded with the move.", confirm=confirm)
    try:
        moved = rollback(settings.state_dir, settings.author, WHO, reason)
    except ValueError as exc:
        return _page(request, 409, error=f"{exc}: nothing was moved.")
    log.info("production rolled back to version %s from the web UI: %s", moved.version, reason)
    return RedirectResponse(f"/models?moved=rollback&version={moved.version}", status_code=303)
