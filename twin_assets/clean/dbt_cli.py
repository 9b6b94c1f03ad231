"""Running the twin_dbt project outside Dagster (benchmarks, tests, scripts), the way the asset does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "twin_dbt"


def dbt_executable() -> str:
    """The dbt beside this Python (the project's virtualenv), which need not be on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def run_dbt(args: list[str], lake_root: str, warehouse_dir: Path, work_dir: Path) -> subprocess.CompletedProcess:
    """`dbt <args>` over the lake at `lake_root`; artifacts and logs go to `work_dir`."""
    env = {
        **os.environ,
        "TWIN_HOME": lake_root,
        "TWIN_WAREHOUSE": str(warehouse_dir),
        "DBT_TARGET_PATH": str(work_dir / "target"),
        "DBT_LOG_PATH": str(work_dir / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return subprocess.run(
        [dbt_executable(), *args, "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True,
    )
