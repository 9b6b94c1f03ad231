"""The Sources page: the authors in twin.yaml (TWIN_CONFIG) and where the twin learns from them.

Plain HTML forms (they work without JavaScript), POST-redirect-GET. Each change is checked with
the settings' own validation before anything is written; a problem is shown next to its field
and the file is left as it was. The file logic lives in `bento.ui.config_file`.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse

from bento.settings import export_max_bytes
from bento.ui import config_file as cf
from bento.ui import render
from twin_assets.settings import ConfigError, config_path

router = APIRouter()
# One change at a time in this process; the version each form carries catches changes made elsewhere.
_writing = threading.Lock()

SOURCE_FIELDS = {".kind": "kind", ".url": "location", ".path": "location"}
AUTHOR_FIELDS = {".id": "id", ".name": "name", ".language": "language"}
DONE = {
    "author-added": "Added the author {author}.",
    "source-added": "Added a source to {author}.",
    "source-edited": "Saved the source of {author}.",
    "source-removed": "Removed the source from {author}.",
    "export-uploaded": "Uploaded the export and added it as a source of {author}.",
}
HISTORY_NAME = re.compile(r"[\w.-]+")


def _config() -> Path:
    return Path(config_path())


def _read(path: Path) -> tuple[str, str, Any]:
    """The file's text, its header comments and its data (None when the file is missing)."""
    if not path.is_file():
        return "", "", None
    text = path.read_text(encoding="utf-8")
    header, _ = cf.split_header(text)
    return text, header, cf.load_data(text)


def _page(request: Request, status_code: int = 200, form: dict | None = None, notice: str | None = None):
    path = _config()
    problem = None
    text, data = "", None
    try:
        text, _, data = _read(path)
        if data is not None:
            cf.validate(data, path.resolve().parent)
    except ConfigError as exc:
        problem = str(exc)
    done = request.query_params.get("done")
    kept = request.query_params.get("kept", "")
    saved = DONE[done].format(author=request.query_params.get("author", "")) if done in DONE else None
    return render(
        request, "sources.html", status_code=status_code, path="/sources",  # also after a form posted elsewhere
        config=str(path), exists=path.is_file(), problem=problem, version=cf.digest(text) if text else "",
        authors=cf.authors_view(data, path.resolve().parent), kinds=cf.SOURCE_KINDS, export_kinds=cf.EXPORT_SOURCE_KINDS,
        kind_labels=cf.KIND_LABELS, form=form or {}, notice=notice, saved=saved,
        kept=kept if HISTORY_NAME.fullmatch(kept) else "", history_dir=cf.HISTORY_DIR,
        export_max_bytes=export_max_bytes(), export_max=cf.human_size(export_max_bytes()),
    )


@router.get("/sources", include_in_schema=False)
def sources_page(request: Request):
    return _page(request)


def _saved(done: str, author: str, kept: Path | None) -> RedirectResponse:
    query = {"done": done, "author": author, **({"kept": kept.name} if kept else {})}
    return RedirectResponse(f"/sources?{urlencode(query)}#author-{author}", status_code=303)


def _change(request: Request, form: dict, build, prefix_of, fields: dict[str, str], fallback: str, done: str,
            cleanup: Path | None = None):
    """Reads the file, builds the new data with `build(data)`, validates and writes it; on a
    problem re-renders the page with `form` showing it and leaves the file alone."""
    path = _config()
    new = None
    with _writing:
        try:
            _, header, data = _read(path)
            new = build(data)
            kept = cf.save_config(path, header, new, form.get("version") or None)
        except KeyError as exc:
            _discard(cleanup)
            return _page(request, 404, {**form, "problems": [f"not found: {exc.args[0]} (the file may have changed)"]})
        except cf.StaleConfig as exc:
            _discard(cleanup)
            return _page(request, 409, {**form, "problems": [str(exc)]})
        except ConfigError as exc:
            _discard(cleanup)
            try:
                prefix = prefix_of(new)
            except (KeyError, IndexError, TypeError, ConfigError):
                prefix = "\0"
            errors, others = cf.field_errors(str(exc), prefix, fields, fallback)
            if "id" in fields.values():  # a repeated author id is reported for the whole file
                for problem in list(others):
                    if "author ids must be unique" in problem:
                        others.remove(problem)
                        errors["id"] = problem.split(": ", 1)[-1]
            return _page(request, 422, {**form, "errors": errors, "problems": others})
    return _saved(done, form.get("author", ""), kept)


def _discard(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def _last_source(author: str):
    def prefix(new: Any) -> str:
        i = cf.author_index(new, author)
        return f"authors[{i}].sources[{len(new['authors'][i]['sources']) - 1}]"
    return prefix


@router.post("/sources/authors", include_in_schema=False)
def add_author(request: Request, id: str = Form(""), name: str = Form(""), language: str = Form("en"),
               version: str = Form("")):
    form = {"name": "author", "author": id.strip(), "version": version,
            "values": {"id": id, "name": name, "language": language}}
    return _change(request, form, lambda data: cf.add_author(data, id, name, language),
                   lambda new: f"authors[{len(new['authors']) - 1}]", AUTHOR_FIELDS, "id", "author-added")


@router.post("/sources/add", include_in_schema=False)
def add_source(request: Request, author: str = Form(...), kind: str = Form(""), location: str = Form(""),
               version: str = Form("")):
    form = {"name": "add", "author": author, "version": version, "values": {"kind": kind, "location": location}}
    return _change(request, form, lambda data: cf.add_source(data, author, kind, location), _last_source(author),
                   SOURCE_FIELDS, "location", "source-added")


@router.post("/sources/edit", include_in_schema=False)
def edit_source(request: Request, author: str = Form(...), index: int = Form(...), kind: str = Form(""),
                location: str = Form(""), version: str = Form("")):
    form = {"name": "edit", "author": author, "index": index, "version": version,
            "values": {"kind": kind, "location": location}}
    return _change(request, form, lambda data: cf.edit_source(data, author, index, kind, location),
                   lambda new: f"authors[{cf.author_index(new, author)}].sources[{index}]",
                   SOURCE_FIELDS, "location", "source-edited")


@router.post("/sources/remove", include_in_schema=False)
def remove_source(request: Request, author: str = Form(...), index: int = Form(...), confirm: str = Form(""),
                  version: str = Form("")):
    form = {"name": "remove", "author": author, "index": index, "version": version}
    if confirm != "yes":
        return _page(request, 422, {**form, "errors": {"confirm": "tick the box to confirm the removal"}})
    return _change(request, form, lambda data: cf.remove_source(data, author, index),
                   lambda new: f"authors[{cf.author_index(new, author)}].sources", {}, "confirm", "source-removed")


@router.post("/sources/upload", include_in_schema=False)
def upload_export(request: Request, author: str = Form(...), kind: str = Form(""), file: UploadFile | None = File(None),
                  version: str = Form("")):
    form = {"name": "upload", "author": author, "version": version, "values": {"kind": kind}}
    path = _config()
    if file is None or not file.filename:
        return _page(request, 422, {**form, "errors": {"file": "choose the export's .zip file"}})
    try:
        _, _, data = _read(path)
        cf.author_index(data, author)
        saved = cf.save_export(path, file.filename, file.file, kind, export_max_bytes())
    except KeyError:
        return _page(request, 404, {**form, "problems": [f"not found: {author} (the file may have changed)"]})
    except ConfigError as exc:
        return _page(request, 422, {**form, "problems": [str(exc)]})
    except cf.UploadError as exc:
        field = "kind" if "only exports" in str(exc) else "file"
        return _page(request, 422, {**form, "errors": {field: str(exc)}})
    relative = cf.relative_to_config(path, saved)
    return _change(request, form, lambda data: cf.add_source(data, author, kind, relative), _last_source(author),
                   {".kind": "kind", ".url": "file", ".path": "file"}, "file", "export-uploaded", cleanup=saved)
