import os
import subprocess
import sys
from pathlib import Path

TWIN = str(Path(sys.executable).parent / "twin")


def test_search_on_an_empty_index_says_what_to_do(tmp_path):
    env = {**os.environ, "TWIN_HOME": str(tmp_path)}
    out = subprocess.run([TWIN, "search", "anything"], env=env, capture_output=True, text=True)
    assert out.returncode == 2 and "materialize vector_index first" in out.stderr


def test_an_unknown_backend_is_a_clear_error(tmp_path):
    env = {**os.environ, "TWIN_HOME": str(tmp_path), "TWIN_VECTOR_INDEX": "faiss"}
    out = subprocess.run([TWIN, "search", "anything"], env=env, capture_output=True, text=True)
    assert out.returncode == 2 and "unknown vector index backend 'faiss'" in out.stderr
