"""twin.yaml as the Sources page edits it: plain functions over the file's text and its data.

Every change builds the whole new config, validates it with the code the settings use
(`twin_assets.settings.parse_config`), and only then writes it:

- atomically (a temporary file beside it, then `os.replace`), so a reader never sees half a file;
- keeping the previous version in `.history/` beside the config, as `<name>.<UTC time>`
  (the newest `HISTORY_KEEP` are kept);
- keeping the file's leading comment block (PyYAML drops comments, so the data below it is dumped
  again: comments between the entries are lost, the header is not).

Exports uploaded from the page are saved under `exports/` beside the config, with a safe file
name, and must be zip archives; the source then names them by a path relative to the config.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from bento.settings import DEFAULT_EXPORT_MAX_BYTES
from twin_assets.settings import EXPORT_KINDS, ConfigError, Source, SourceKind, _is_url, parse_config

HISTORY_DIR = ".history"
HISTORY_KEEP = 20
EXPORTS_DIR = "exports"


SOURCE_KINDS = tuple(kind.value for kind in SourceKind)
EXPORT_SOURCE_KINDS = tuple(kind.value for kind in SourceKind if kind in EXPORT_KINDS)
KIND_LABELS = {
    "web": "Web: a blog, feed or article",
    "github": "GitHub: a user or repository",
    "git": "Git repository: clone URL or local folder",
    "linkedin_export": "LinkedIn export (zip or folder)",
    "substack_export": "Substack export (zip or folder)",
    "medium_export": "Medium export (zip or folder)",
}


class StaleConfig(ValueError):
    """The file changed since the page that posted this form was shown."""


class UploadError(ValueError):
    """An uploaded export cannot be used: too big, not a zip, no name."""


# ---------------------------------------------------------------- reading


def split_header(text: str) -> tuple[str, str]:
    """The leading comment block (comment and blank lines before the first line of data) and the rest."""
    lines = text.splitlines(keepends=True)
    n = 0
    while n < len(lines) and (lines[n].lstrip().startswith("#") or not lines[n].strip()):
        n += 1
    header = "".join(lines[:n])
    # Blank lines at the very end of the header belong to neither; keep one newline at most.
    return header.rstrip("\n") + "\n" if header.strip() else "", "".join(lines[n:])


def digest(text: str) -> str:
    """What a form carries to say which version of the file it was made from."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_data(text: str) -> Any:
    """The YAML data of the file (ConfigError when it is not YAML)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the config is not valid YAML: {exc}") from None


def validate(data: Any, base_dir: Path) -> None:
    """Raises the settings' own ConfigError when `data` is not a valid twin config."""
    parse_config(data, base_dir)


def source_kind(entry: Any) -> str:
    """The kind of a source entry as written (a string's kind is inferred like the settings do)."""
    if isinstance(entry, dict):
        return str(entry.get("kind", ""))
    try:
        return Source.model_validate(entry).kind.value
    except Exception:
        return "?"


def source_location(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("url") or entry.get("path") or "")
    return str(entry)


@dataclass(frozen=True)
class SourceView:
    index: int
    kind: str
    location: str
    is_path: bool
    missing: bool  # a path that does not exist (relative to the config's folder)


@dataclass(frozen=True)
class AuthorView:
    index: int
    id: str
    name: str
    language: str
    sources: tuple[SourceView, ...]


def authors_view(data: Any, base_dir: Path) -> list[AuthorView]:
    """The authors and their sources as written in the file, for showing (tolerates bad data)."""
    authors = data.get("authors") if isinstance(data, dict) else None
    views = []
    for i, author in enumerate(authors if isinstance(authors, list) else []):
        if not isinstance(author, dict):
            continue
        sources = []
        for j, entry in enumerate(author.get("sources") or []):
            location = source_location(entry)
            is_path = not _is_url(location)
            missing = is_path and bool(location) and not (base_dir / location).exists()
            sources.append(SourceView(j, source_kind(entry), location, is_path, missing))
        views.append(AuthorView(i, str(author.get("id", "")), str(author.get("name", "")),
                                str(author.get("language", "en")), tuple(sources)))
    return views


# ---------------------------------------------------------------- changing (new data, never in place)


def source_entry(kind: str, location: str) -> dict[str, str]:
    """A source as the page writes it: `{kind, url}` for a URL, `{kind, path}` for anything else."""
    location = location.strip()
    entry = {"kind": kind.strip()}
    if location:
        entry["url" if _is_url(location) else "path"] = location
    return entry


def _authors(data: Any) -> list:
    if not isinstance(data, dict) or not isinstance(data.get("authors"), list):
        raise ConfigError("invalid twin config: authors: the file has no list of authors")
    return data["authors"]


def author_index(data: Any, author_id: str) -> int:
    for i, author in enumerate(_authors(data)):
        if isinstance(author, dict) and author.get("id") == author_id:
            return i
    raise KeyError(author_id)


def add_author(data: Any, author_id: str, name: str, language: str = "en") -> Any:
    new = copy.deepcopy(data) if isinstance(data, dict) else {}
    new.setdefault("authors", [])
    if not isinstance(new["authors"], list):
        new["authors"] = []
    new["authors"].append({"id": author_id.strip(), "name": name.strip(), "language": language.strip() or "en",
                           "sources": []})
    return new


def add_source(data: Any, author_id: str, kind: str, location: str) -> Any:
    new = copy.deepcopy(data)
    author = _authors(new)[author_index(new, author_id)]
    if not isinstance(author.get("sources"), list):
        author["sources"] = []
    author["sources"].append(source_entry(kind, location))
    return new


def _source_list(data: Any, author_id: str, index: int) -> list:
    sources = _authors(data)[author_index(data, author_id)].get("sources")
    if not isinstance(sources, list) or not 0 <= index < len(sources):
        raise KeyError(f"{author_id} has no source {index}")
    return sources


def edit_source(data: Any, author_id: str, index: int, kind: str, location: str) -> Any:
    new = copy.deepcopy(data)
    _source_list(new, author_id, index)[index] = source_entry(kind, location)
    return new


def remove_source(data: Any, author_id: str, index: int) -> Any:
    new = copy.deepcopy(data)
    del _source_list(new, author_id, index)[index]
    return new


# ---------------------------------------------------------------- errors next to the fields


_PROBLEM = re.compile(r"(?:^|; )((?:\(top level\)|authors)[^:;]*): ")


def config_problems(message: str) -> list[tuple[str, str]]:
    """(field, message) for each problem of a ConfigError (`invalid twin config: a.b: msg; c: msg`)."""
    body = message.split("invalid twin config: ", 1)[1] if "invalid twin config: " in message else message
    found = list(_PROBLEM.finditer(body))
    if not found:
        return [("", body)]
    problems = []
    for n, match in enumerate(found):
        end = found[n + 1].start() if n + 1 < len(found) else len(body)
        text = body[match.end():end].strip()
        problems.append((match.group(1), re.sub(r"^(Value|Assertion) error, ", "", text)))
    return problems


def field_errors(message: str, prefix: str, fields: dict[str, str], fallback: str) -> tuple[dict[str, str], list[str]]:
    """Sorts a ConfigError's problems onto a form: a problem at `prefix + suffix` goes to the
    form field `fields[suffix]` (the problem at `prefix` itself to `fallback`); problems
    elsewhere in the file are returned apart, for the top of the form."""
    mine: dict[str, str] = {}
    others: list[str] = []
    for where, text in config_problems(message):
        if where == prefix or where.startswith(prefix + ".") or where.startswith(prefix + "["):
            rest = where[len(prefix):]
            field = fallback
            for suffix, name in fields.items():
                if rest == suffix or rest.startswith(suffix + ".") or rest.startswith(suffix + "["):
                    field = name
                    break
            mine[field] = f"{mine[field]}; {text}" if field in mine else text
        else:
            others.append(f"{where}: {text}" if where else text)
    return mine, others


# ---------------------------------------------------------------- writing


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key (`authors:\n  - id: ...`), as twin.yaml is written by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def render(header: str, data: Any) -> str:
    """The file's text: its header comments, then the data (sources as one-line mappings)."""
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None, width=120)
    return header + body


def history_name(path: Path, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{path.name}.{stamp}"


def keep_history(path: Path, keep: int = HISTORY_KEEP, now: datetime | None = None) -> Path | None:
    """Copies the current file into `.history/` beside it (None when there is no file yet) and
    removes the oldest copies past `keep`."""
    if not path.exists():
        return None
    folder = path.parent / HISTORY_DIR
    folder.mkdir(exist_ok=True)
    target = folder / history_name(path, now)
    shutil.copy2(path, target)
    copies = sorted(folder.glob(f"{path.name}.*"))
    for old in copies[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return target


def write_atomic(path: Path, text: str) -> None:
    """Writes `text` to `path` so readers see the old file or the new one, never a mix."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_config(path: Path, header: str, data: Any, expected_digest: str | None = None) -> Path | None:
    """Validates `data` (ConfigError, nothing written), checks the file is still the version the
    form was made from (StaleConfig), keeps the previous version and writes the new one.
    Returns the copy of the previous version."""
    validate(data, path.resolve().parent)
    if expected_digest is not None and path.exists() and digest(path.read_text(encoding="utf-8")) != expected_digest:
        raise StaleConfig("the config file changed since this page was shown: nothing was saved, look again and retry")
    kept = keep_history(path)
    write_atomic(path, render(header, data))
    return kept


# ---------------------------------------------------------------- uploaded exports


def safe_filename(name: str, kind: str = "") -> str:
    """A file name that is only letters, digits, '.', '-' and '_', ends in .zip and cannot leave
    the exports folder (`../../x.zip` becomes `x.zip`)."""
    base = re.split(r"[\\/]", name or "")[-1]
    stem = base[:-4] if base.lower().endswith(".zip") else base
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_")[:80]
    if not stem:
        stem = kind.replace("_export", "") + "-export" if kind else "export"
    return f"{stem}.zip"


def unique_path(folder: Path, name: str) -> Path:
    """`folder/name`, or `name-2.zip`, `-3`, ... when taken; the name is reserved (created empty)
    so two uploads of the same name at once get two files."""
    stem, n = Path(name).stem, 1
    while True:
        target = folder / (name if n == 1 else f"{stem}-{n}.zip")
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return target
        except FileExistsError:
            n += 1


def is_zip(path: Path) -> bool:
    """A readable zip archive (its table of contents opens), not just a name ending in .zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
        return True
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def save_export(config: Path, filename: str, stream: BinaryIO | Iterable[bytes], kind: str,
                max_bytes: int = DEFAULT_EXPORT_MAX_BYTES) -> Path:
    """Saves an uploaded export under `exports/` beside the config and returns its path.
    UploadError (and nothing left behind) when it is empty, over `max_bytes` or not a zip."""
    if kind not in EXPORT_SOURCE_KINDS:
        raise UploadError(f"only exports can be uploaded ({', '.join(EXPORT_SOURCE_KINDS)}), not {kind!r}")
    folder = config.resolve().parent / EXPORTS_DIR
    folder.mkdir(exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".upload.", suffix=".part", dir=folder)
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            chunks = iter(lambda: stream.read(1 << 20), b"") if hasattr(stream, "read") else stream
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadError(f"the file is over the {human_size(max_bytes)} limit")
                out.write(chunk)
        if size == 0:
            raise UploadError("the file is empty")
        if not is_zip(Path(temporary)):
            raise UploadError("the file is not a zip archive: upload the .zip the platform gave you")
        target = unique_path(folder, safe_filename(filename, kind))
        os.replace(temporary, target)
        return target
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def human_size(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def relative_to_config(config: Path, path: Path) -> str:
    return path.resolve().relative_to(config.resolve().parent).as_posix()
