"""Typed settings: the authors and their sources from twin.yaml, storage from the environment.

A source in twin.yaml is either a string (URL or path, its kind inferred) or a mapping
with `kind` and `url` or `path`. Anything unknown or malformed fails when the file is
loaded, with the offending field named, so a bad config never reaches a crawl.
"""

from __future__ import annotations

import hashlib
import os
import re
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_TWIN_HOME = "./.twin"
DEFAULT_TWIN_CONFIG = "./twin.yaml"
GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})


class ConfigError(ValueError):
    """twin.yaml is missing or invalid; the message names the field."""


class SourceKind(str, Enum):
    web = "web"  # a feed, a blog or profile page, or a single article
    github = "github"  # a GitHub user or repository URL
    git = "git"  # any other git repository: a clone URL or a local path
    linkedin_export = "linkedin_export"
    substack_export = "substack_export"
    medium_export = "medium_export"


EXPORT_KINDS = frozenset({SourceKind.linkedin_export, SourceKind.substack_export, SourceKind.medium_export})


def _is_url(value: str) -> bool:
    return urlparse(value).scheme in {"http", "https", "file"}


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SourceKind
    url: str | None = None
    path: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if _is_url(value):
            if (urlparse(value).hostname or "") in GITHUB_HOSTS:
                kind = SourceKind.github
            else:
                kind = SourceKind.git if value.endswith(".git") else SourceKind.web
            return {"kind": kind, "url": value}
        if value.endswith(".zip"):
            raise ValueError(
                f"cannot tell which platform exported {value!r}; write it as "
                "{kind: linkedin_export | substack_export | medium_export, path: ...}"
            )
        return {"kind": SourceKind.git, "path": value}

    @model_validator(mode="after")
    def _one_location(self) -> Source:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of 'url' or 'path'")
        if self.url is not None and not _is_url(self.url):
            raise ValueError(f"url {self.url!r} must start with http://, https:// or file://")
        if self.kind in EXPORT_KINDS and self.path is None:
            raise ValueError(f"a {self.kind.value} source needs a 'path' to the archive (zip or folder)")
        if self.kind is SourceKind.github and self.url is None:
            raise ValueError("a github source needs a 'url'")
        return self

    @property
    def location(self) -> str:
        return self.url or self.path or ""

    def resolved(self, base_dir: Path) -> Source:
        """Relative paths are relative to the directory of twin.yaml; a saved site becomes a file:// URL."""
        if self.path is None:
            return self
        path = (base_dir / self.path).resolve()
        if self.kind is SourceKind.web:
            return self.model_copy(update={"url": path.as_uri(), "path": None})
        return self.model_copy(update={"path": str(path)})


class Author(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    # ISO 639-1 code of the language the author writes in; the quality checks expect their prose in it.
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")
    sources: tuple[Source, ...] = ()

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", value):
            raise ValueError("author id must be lowercase letters, digits, '-' or '_'")
        return value


class TwinConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    authors: tuple[Author, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> TwinConfig:
        ids = [a.id for a in self.authors]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"author ids must be unique, repeated: {', '.join(duplicated)}")
        return self

    def author(self, author_id: str) -> Author:
        for author in self.authors:
            if author.id == author_id:
                return author
        known = ", ".join(a.id for a in self.authors)
        raise ConfigError(f"unknown author {author_id!r}; twin.yaml has: {known}")

    def sole_author(self, how_to_choose: str) -> Author:
        """The only author; with several, a ConfigError naming them and how to choose one."""
        if len(self.authors) > 1:
            raise ConfigError(f"twin.yaml names several authors ({', '.join(a.id for a in self.authors)}): {how_to_choose}")
        return self.authors[0]


def _field_path(location: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in location:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def parse_config(data: Any, base_dir: Path) -> TwinConfig:
    try:
        config = TwinConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # A tuple whose only item failed is also reported as too short; the item's own error says more.
        specific = [e for e in errors if e["type"] != "too_short" or len(errors) == 1]
        problems = "; ".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in specific)
        raise ConfigError(f"invalid twin config: {problems}") from None
    authors = tuple(
        a.model_copy(update={"sources": tuple(s.resolved(base_dir) for s in a.sources)}) for a in config.authors
    )
    return config.model_copy(update={"authors": authors})


def load_config(path: str | os.PathLike[str]) -> TwinConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"twin config not found: {path} (set TWIN_CONFIG or create twin.yaml)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse_config(data, path.resolve().parent)


def twin_home() -> str:
    """The one storage root: a local directory or an s3:// prefix."""
    home = os.environ.get("TWIN_HOME", DEFAULT_TWIN_HOME)
    return home if home.startswith("s3://") else str(Path(home).resolve())


def local_state_dir(root: str) -> Path:
    """Where state that must sit on local disk lives (the DuckDB warehouse, Data Docs): the root
    itself, or for an s3:// root a per-root folder in the user's cache."""
    if not root.startswith("s3://"):
        return Path(root)
    digest = hashlib.sha256(root.encode()).hexdigest()[:12]
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llm-twin" / digest


INSTANCE_TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"


def dagster_home() -> Path:
    """The Dagster instance's folder: DAGSTER_HOME, or `dagster` beside the lake's local state.
    Its dagster.yaml is written from deploy/dagster.yaml when missing, so runs started from any
    shell land in the instance the UI shows."""
    home = Path(os.environ.get("DAGSTER_HOME") or local_state_dir(twin_home()) / "dagster")
    instance_file = home / "dagster.yaml"
    if not instance_file.exists():
        home.mkdir(parents=True, exist_ok=True)
        instance_file.write_text(INSTANCE_TEMPLATE.read_text())
    return home


def embedding_model() -> str:
    """A sentence-transformers model id or local path; the default ships in a Python package."""
    return os.environ.get("TWIN_EMBEDDING_MODEL", "all-MiniLM-L6-v2")


def vector_backend() -> str:
    """`lancedb` (embedded, the default) or `weaviate` (a server at WEAVIATE_URL)."""
    return os.environ.get("TWIN_VECTOR_INDEX", "lancedb")


def config_path() -> str:
    return os.environ.get("TWIN_CONFIG", DEFAULT_TWIN_CONFIG)


def base_model_name() -> str:
    """TWIN_BASE_MODEL: `local:tiny-llama` (built here; the default, so tests stay fast), a packaged
    preset (`smollm2-135m-instruct`, the default of `make run`), a Hugging Face model id, or a local folder."""
    return os.environ.get("TWIN_BASE_MODEL", "local:tiny-llama")


def training_backend() -> str:
    """TWIN_TRAINING_BACKEND: `local` (TRL in the run's process, the default) or `axolotl` (Axolotl in
    its own environment through Dagster Pipes; `make axolotl` creates it)."""
    return os.environ.get("TWIN_TRAINING_BACKEND", "local")
