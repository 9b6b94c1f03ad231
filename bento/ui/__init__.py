"""The web UI: server-rendered pages (Jinja2) with a little plain JavaScript, mounted on the
service's FastAPI app at `/`, behind the same API-key guard. No build step, nothing fetched at
run time.

Each page is its own module with its own router; they reach the engine and the settings through
`request.app.state` (set by the service), so they can be tested on a bare FastAPI app too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
PAGES = (("/write", "Write"), ("/sources", "Sources"), ("/collect", "Collect"), ("/models", "Models"),
         ("/monitoring", "Monitoring"))

home = APIRouter()


@home.get("/", include_in_schema=False)
def index() -> RedirectResponse:
    return RedirectResponse("/write", status_code=303)


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    """A page in the shared layout, with the navigation and who is served."""
    state = request.app.state
    served = getattr(state, "engine", None)
    context.setdefault("model_version", served.model.version if served is not None and served.ready else None)
    context.setdefault("author", state.settings.author if hasattr(state, "settings") else None)
    return templates.TemplateResponse(request, template, {"pages": PAGES, "path": request.url.path, **context},
                                      status_code=status_code)


def mount_ui(app: FastAPI) -> None:
    """Adds every page and the static files to `app`."""
    from bento.ui import collect, login, models, monitoring, sources, write

    app.include_router(home)
    for page in (login, write, sources, collect, models, monitoring):
        app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
