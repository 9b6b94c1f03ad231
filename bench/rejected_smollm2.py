"""What SmolLM2-135M-Instruct costs as the writer of the demo's rejected answers.

Collects and cleans the demo corpus into a fresh lake, converts the packaged GGUF file
(`smollm2-135m-instruct`) with the base_model asset, builds instruct_dataset, then
materializes preference_dataset twice with `rejected_from="base_model"`: the first run
generates every rejected answer (batched, on however many cores torch gets), the re-run finds
them all in the answer cache. Prints the conversion time, both runs, the pairs kept and
dropped by reason, the rejected answers' token lengths and one pair.

    .venv/bin/python bench/rejected_smollm2.py [--home DIR]

`--home` keeps the lake and the converted model in DIR (a second bench run then skips the
conversion and finds the answers cached); without it everything goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from clean_realworld import timed_build  # noqa: E402
from collect_realworld import BENCH_OPTIONS  # noqa: E402

from training.base_model import SMOLLM2_135M_INSTRUCT  # noqa: E402
from twin_assets.collect.crawl import Crawler  # noqa: E402
from twin_assets.datasets.assets import DatasetResource, instruct_dataset, preference_dataset  # noqa: E402
from twin_assets.features.assets import EmbeddingResource  # noqa: E402
from twin_assets.lake import Lake  # noqa: E402
from twin_assets.models.assets import BaseModelResource, base_model  # noqa: E402
from twin_assets.resources import LakeResource  # noqa: E402
from twin_assets.settings import load_config  # noqa: E402


def materialize(assets: list, resources: dict) -> tuple[float, dict[str, dict]]:
    started = time.perf_counter()
    result = dg.materialize(assets, resources=resources, selection=[a.key for a in assets[-1:]])
    seconds = time.perf_counter() - started
    cards = {e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
             for e in result.get_asset_materialization_events()}
    return seconds, cards


def run(root: Path) -> None:
    if not (root / "lake" / "raw").exists():  # collected by an earlier run
        Crawler(Lake(str(root)), BENCH_OPTIONS).run(load_config(REPO_ROOT / "twin.yaml"))
        timed_build(root)
    resources = {
        "lake": LakeResource(root=str(root), s3=S3Resource()),
        "datasets": DatasetResource(rejected_from="base_model"),
        "embedding": EmbeddingResource(),
        "base": BaseModelResource(name=SMOLLM2_135M_INSTRUCT.name),
    }
    _, cards = materialize([base_model], resources)
    model = cards["base_model"]
    print(f"base_model {model['identity']}: {model['parameters']:,} parameters, vocabulary {model['vocab_size']:,}; "
          f"{'converted now' if model['built_now'] else 'kept from an earlier conversion'} "
          f"(conversion took {model['build_seconds']} s)")
    instruct_s, cards = materialize([base_model, instruct_dataset], resources)
    print(f"instruct_dataset: {cards['instruct_dataset']['dagster/row_count']} samples in {instruct_s:.1f} s")
    first_s, first = materialize([base_model, instruct_dataset, preference_dataset], resources)
    again_s, again = materialize([base_model, instruct_dataset, preference_dataset], resources)
    pairs, repeat = first["preference_dataset"], again["preference_dataset"]
    print(f"preference_dataset: {pairs['prose_samples']} prose samples -> {pairs['dagster/row_count']} pairs; "
          f"dropped {pairs['dropped']}")
    stats = pairs["tokens"]["rejected"]
    if stats:
        print(f"  rejected tokens: min {stats['min']}, median {stats['median']:.0f}, p95 {stats['p95']}, max {stats['max']}")
    print(f"  first run (generates {pairs['prose_samples']} answers) {first_s:.1f} s; cached re-run {again_s:.1f} s; "
          f"new version on the re-run: {'YES' if repeat['delta_version'] != pairs['delta_version'] else 'none'}")
    print(f"  sample:\n{pairs['sample']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=None, help="keep the lake and model here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("TWIN_LLM_BASE_URL", None)  # the base model writes the rejected answers, not an endpoint
    if args.home:
        run(args.home.resolve())
        return 0
    with tempfile.TemporaryDirectory(prefix="twin-bench-") as work:
        run(Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
