"""A full build of the demo corpus on a fresh TWIN_HOME, then the same build again with nothing new.

Every asset of the code location is materialized in this process (as `make materialize` does,
on the code's defaults: the local tiny Llama, a short fine-tuning), twice; the second run should
do almost nothing: no crawl downloads, no dbt build, no embedding, no training. Prints both
times, their ratio, and which assets wrote a new Delta version or model on the re-run.

    .venv/bin/python bench/rerun_demo.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="twin-rerun-") as home:
        os.environ.update({"TWIN_HOME": home, "HF_HUB_OFFLINE": "1", "TWIN_CONFIG": str(REPO_ROOT / "twin.yaml")})
        os.environ.pop("TWIN_LLM_BASE_URL", None)
        import dagster as dg

        from twin_assets.definitions import defs
        from twin_assets.lake import LAKE_TABLES, Lake

        lake = Lake(home)

        def build() -> tuple[float, dict[str, dict]]:
            started = time.perf_counter()
            result = dg.materialize([*defs.assets, *defs.asset_checks], resources=defs.resources)
            seconds = time.perf_counter() - started
            if not result.success:
                raise SystemExit("the build failed")
            return seconds, {
                e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
                for e in result.get_asset_materialization_events()
            }

        full_s, _ = build()
        versions = {name: lake.version(spec) for name, spec in LAKE_TABLES.items()}
        again_s, metadata = build()
        changed = [name for name, spec in LAKE_TABLES.items() if lake.version(spec) != versions[name]]
        print(f"full build on a fresh home: {full_s:.1f} s")
        print(f"re-run with nothing new:    {again_s:.1f} s (ratio {again_s / full_s:.3f})")
        print(f"  lake tables with a new Delta version on the re-run: {', '.join(changed) or 'none'}")
        print(f"  dbt build: {metadata['cleaned_documents'].get('dbt_build', 'ran')}")
        print(f"  vector index: {metadata['vector_index']['added']} chunks embedded")
        print(f"  twin_model trained again: {metadata['twin_model']['trained_now']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
