"""A TWIN_HOME the service can serve, made directly (no pipeline run): the author's passages in a
real LanceDB index embedded by the real embedding model, the tiny local Llama as the base model,
and registry versions to promote. Plus a real `bentoml serve` of it on 127.0.0.1."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.documents import ARTICLE, OTHER_ARTICLE
from twin_assets.features.chunking import chunk_text
from twin_assets.features.embedding import Embedder
from twin_assets.features.index import LanceIndex
from twin_assets.models.registry import Lineage, promote, register_version

REPO_ROOT = Path(__file__).resolve().parents[2]
AUTHOR = "jane"
EMBEDDING_MODEL = "all-MiniLM-L6-v2"
PASSAGES = {
    "https://jane.example/idempotency": ("Idempotent pipelines", "article", ARTICLE),
    "https://jane.example/dashboards": ("Before you build a dashboard", "post", OTHER_ARTICLE),
}


def build_index(home: Path, embedder: Embedder) -> int:
    rows = []
    for url, (title, category, text) in PASSAGES.items():
        for n, chunk in enumerate(chunk_text(text, category, embedder.count_tokens)):
            rows.append({
                "chunk_id": f"{url}#{n}", "document_id": url, "author_id": AUTHOR, "category": category,
                "platform": "web", "url": url, "title": title, "text": chunk,
            })
    index = LanceIndex(str(home / "vector_index"))
    index.upsert(rows, embedder.encode([r["text"] for r in rows]), EMBEDDING_MODEL)
    return len(rows)


def register_model(home: Path, weights: Path, name: str, promote_it: bool = True) -> int:
    """A registry version whose merged weights are `weights`; promoted to production when asked."""
    folder = home / "trained" / name
    shutil.copytree(weights, folder / "merged")
    (folder / "adapter").mkdir()
    (folder / "adapter" / "README").write_text("the merged weights are served")
    (folder / "card.json").write_text(json.dumps({"version": name}))
    lineage = Lineage(twin_version=name, base_model="tiny", config_hash="test", dataset_versions={"instruct_dataset": 0})
    version = register_version(home, AUTHOR, folder, lineage)
    if promote_it:
        promote(home, AUTHOR, version.version, "tests", f"serve {name}")
    return version.version


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RunningService:
    """`bentoml serve bento.service:TwinService` on free ports, stopped by SIGTERM like Ctrl-C."""

    def __init__(self, home: Path, base_model: Path, log_path: Path, **env: str) -> None:
        self.http_port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.api_key = env.get("TWIN_API_KEYS", "").split(",")[0] or None
        environment = {
            **os.environ, "TWIN_HOME": str(home), "TWIN_AUTHOR": AUTHOR, "TWIN_BASE_MODEL": str(base_model),
            "TWIN_HTTP_PORT": str(self.http_port), "TWIN_GRPC_PORT": str(self.grpc_port),
            "TWIN_EMBEDDING_MODEL": EMBEDDING_MODEL, "TWIN_SWAP_POLL_S": "0.5", "BENTOML_DO_NOT_TRACK": "true",
            "HF_HUB_OFFLINE": "1", "TWIN_LINK_ALLOW": "127.0.0.1", **env,
        }
        self.log_path = log_path
        self._log = open(log_path, "w")
        bentoml = str(Path(sys.executable).parent / "bentoml")
        self.process = subprocess.Popen(
            [bentoml, "serve", "bento.service:TwinService", "--port", str(self.http_port)],
            cwd=REPO_ROOT, env=environment, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=120, **kwargs)

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited ({self.process.returncode}):\n{self.log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"the service was not ready in {timeout_s} s:\n{self.log_path.read_text()[-4000:]}")

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode


@contextmanager
def serving(home: Path, base_model: Path, versions: tuple[str, ...] = ("first",), **env: str) -> Iterator[RunningService]:
    """The index built in `home`, `versions` registered (the first promoted, the rest candidates),
    and the real service running on it until the block ends."""
    build_index(home, Embedder(EMBEDDING_MODEL))
    for n, name in enumerate(versions):
        register_model(home, base_model, name, promote_it=n == 0)
    service = RunningService(home, base_model, home / "service.log", **env)
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()
