"""Serving settings, typed and read from the environment once at start-up.

Secrets (API keys, the remote engine's key) are `SecretStr`: they print as stars and never
reach a log line, a response or the prompt logs.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from training.base_model import base_model_location
from twin_assets.settings import (
    base_model_name,
    config_path,
    embedding_model,
    load_config,
    local_state_dir,
    twin_home,
    vector_backend,
)

LOOPBACK_HOST = "127.0.0.1"


def _split(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def api_keys_from_env() -> tuple[str, ...]:
    """TWIN_API_KEYS: comma-separated bearer keys; none means local use only."""
    return _split(os.environ.get("TWIN_API_KEYS", ""))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServingSettings(BaseModel):
    home: str = Field(description="TWIN_HOME: the lake, the vector index, the registry and the models")
    author: str = Field(description="whose twin is served: TWIN_AUTHOR, or the only author in twin.yaml")
    base_model: str = Field(description="served until a version is promoted: TWIN_BASE_MODEL")
    host: str = LOOPBACK_HOST
    http_port: int = Field(8000, ge=1, le=65535)
    grpc_port: int = Field(50051, ge=0, le=65535)  # 0 picks a free port (tests)
    api_keys: tuple[SecretStr, ...] = ()
    engine: Literal["transformers", "openai"] = "transformers"
    engine_base_url: str = ""
    engine_model: str = ""
    engine_api_key: SecretStr | None = None
    max_concurrency: int = Field(16, ge=1)
    request_timeout_s: float = Field(300.0, gt=0)
    max_request_bytes: int = Field(1_000_000, ge=1024)
    swap_poll_s: float = Field(5.0, ge=0)  # 0 turns the background check for a new production version off
    vector_backend: str = "lancedb"
    weaviate_url: str = ""
    embedding_model: str = "all-MiniLM-L6-v2"
    dagster_url: str = "http://127.0.0.1:3000"  # the Dagster UI, for the web UI's links to runs

    @model_validator(mode="after")
    def _coherent(self) -> ServingSettings:
        if self.engine == "openai" and not (self.engine_base_url and self.engine_model):
            raise ValueError("TWIN_ENGINE=openai needs TWIN_ENGINE_BASE_URL and TWIN_ENGINE_MODEL")
        if not self.api_keys and not is_loopback(self.host):
            raise ValueError(
                f"serving on {self.host} without an API key would let anyone on the network use the twin: "
                "set TWIN_API_KEYS, or serve on 127.0.0.1"
            )
        return self

    @property
    def state_dir(self) -> Path:
        return local_state_dir(self.home)

    def base_model_location(self) -> str:
        return base_model_location(self.base_model, self.state_dir / "models")

    def key_values(self) -> frozenset[str]:
        return frozenset(key.get_secret_value() for key in self.api_keys)

    @classmethod
    def from_env(cls, **overrides) -> ServingSettings:
        env = os.environ
        author = (overrides.get("author") or env.get("TWIN_AUTHOR")
                  or load_config(config_path()).sole_author("choose one with TWIN_AUTHOR").id)
        values = {
            "home": twin_home(), "author": author, "base_model": base_model_name(),
            **transport_from_env(), "grpc_port": int(env.get("TWIN_GRPC_PORT", 50051)),
            "api_keys": api_keys_from_env(),
            "engine": env.get("TWIN_ENGINE", "transformers"),
            "engine_base_url": env.get("TWIN_ENGINE_BASE_URL", ""), "engine_model": env.get("TWIN_ENGINE_MODEL", ""),
            "engine_api_key": env.get("TWIN_ENGINE_API_KEY") or None,
            "swap_poll_s": float(env.get("TWIN_SWAP_POLL_S", 5)),
            "vector_backend": vector_backend(), "weaviate_url": env.get("WEAVIATE_URL", ""),
            "embedding_model": embedding_model(),
            "dagster_url": env.get("TWIN_DAGSTER_URL", "http://127.0.0.1:3000").rstrip("/"),
        }
        return cls(**{**values, **overrides})


DEFAULT_EXPORT_MAX_BYTES = 200 * 1024 * 1024


def export_max_bytes() -> int:
    """TWIN_EXPORT_MAX_BYTES: the largest export archive an upload may hold."""
    return int(os.environ.get("TWIN_EXPORT_MAX_BYTES", DEFAULT_EXPORT_MAX_BYTES))


def transport_from_env() -> dict[str, Any]:
    """The settings the HTTP layer needs before the engine exists (BentoML takes them when the
    service class is defined, the guard when the app is built), read without any config file."""
    env, default = os.environ, {name: field.default for name, field in ServingSettings.model_fields.items()}
    return {
        "host": env.get("TWIN_SERVE_HOST", default["host"]),
        "http_port": int(env.get("TWIN_HTTP_PORT", default["http_port"])),
        "max_concurrency": int(env.get("TWIN_MAX_CONCURRENCY", default["max_concurrency"])),
        "request_timeout_s": float(env.get("TWIN_REQUEST_TIMEOUT_S", default["request_timeout_s"])),
        "max_request_bytes": int(env.get("TWIN_MAX_REQUEST_BYTES", default["max_request_bytes"])),
    }
