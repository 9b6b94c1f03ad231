"""`twin`: what people do from a terminal."""

from __future__ import annotations

import argparse
import os
import sys


def _collect(args: argparse.Namespace) -> int:
    import dagster as dg

    from twin_assets.definitions import defs
    from twin_assets.settings import config_path, load_config

    config = load_config(config_path())
    for author_id in args.author or []:
        config.author(author_id)  # an unknown id fails here, before a run is started
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    run_config = {"ops": {"raw_collection": {"config": {"authors": args.author or []}}}}
    result = defs.get_job_def("collect").execute_in_process(run_config=run_config, instance=instance)
    for materialization in result.asset_materializations_for_node("raw_collection"):
        rows = materialization.metadata.get("dagster/row_count")
        print(f"{materialization.asset_key.to_user_string():<18} rows={rows.value if rows else '?'}")
    return 0 if result.success else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twin", description="LLM Twin: collect, search and write in one author's voice.")
    commands = parser.add_subparsers(dest="command", required=True)
    collect = commands.add_parser("collect", help="collect every author's sources now, or only the named authors")
    collect.add_argument("--author", action="append", metavar="ID", help="an author id from twin.yaml (repeatable)")
    collect.set_defaults(handler=_collect)
    args = parser.parse_args(argv)
    from twin_assets.settings import ConfigError

    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"twin: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
