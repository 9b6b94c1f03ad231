"""`twin`: what people do from a terminal."""

from __future__ import annotations

import argparse
import os
import sys


def _collect(args: argparse.Namespace) -> int:
    import dagster as dg

    from twin_assets.definitions import defs
    from twin_assets.settings import config_path, dagster_home, load_config

    config = load_config(config_path())
    for author_id in args.author or []:
        config.author(author_id)  # an unknown id fails here, before a run is started
    os.environ["DAGSTER_HOME"] = str(dagster_home())  # the instance the UI shows, under TWIN_HOME
    instance = dg.DagsterInstance.get()
    run_config = {"ops": {"raw_collection": {"config": {"authors": args.author or []}}}}
    result = defs.get_job_def("collect").execute_in_process(run_config=run_config, instance=instance)
    for materialization in result.asset_materializations_for_node("raw_collection"):
        rows = materialization.metadata.get("dagster/row_count")
        print(f"{materialization.asset_key.to_user_string():<18} rows={rows.value if rows else '?'}")
    return 0 if result.success else 1


def _forget(args: argparse.Namespace) -> int:
    import polars as pl

    from twin_assets.definitions import defs
    from twin_assets.lake import CRAWL_ERRORS, RAW_DOCUMENT_TABLES
    from twin_assets.settings import ConfigError, config_path, load_config

    lake = defs.resources["lake"].lake()
    removed = {}
    for spec in (*RAW_DOCUMENT_TABLES.values(), CRAWL_ERRORS):
        rows = lake.read(spec, columns=[spec.key, "author_id"]).filter(pl.col("author_id") == args.author)
        removed[spec.name] = lake.delete(spec, rows[spec.key].to_list())
    for name, count in removed.items():
        print(f"{name:<18} removed={count}")
    if not any(removed.values()):
        print(f"the lake holds nothing by {args.author!r}")
        return 0
    print("run `make materialize` to remove them from cleaned_documents, the chunks, the vector index and the datasets")
    try:
        load_config(config_path()).author(args.author)
        print(f"{args.author!r} is still in {config_path()}: remove them there, or the next collection brings them back")
    except ConfigError:
        pass
    return 0


def _quiet_model_loading() -> None:
    """No download or weight-loading progress bars on a terminal that asked for search results."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def _search(args: argparse.Namespace) -> int:
    import json

    from twin_assets.features.assets import open_index
    from twin_assets.features.embedding import Embedder
    from twin_assets.features.retrieval import Retriever
    from twin_assets.settings import embedding_model, local_state_dir, twin_home, vector_backend

    _quiet_model_loading()
    index = open_index(vector_backend(), local_state_dir(twin_home()), os.environ.get("WEAVIATE_URL", ""))
    if index.count() == 0:
        print("twin: the vector index is empty; materialize vector_index first (make run)", file=sys.stderr)
        return 2
    results = Retriever(Embedder(embedding_model()).encode, index).search(args.query, args.k, args.author, args.category)
    if args.json:
        print(json.dumps({"results": [r.as_dict() for r in results]}, ensure_ascii=False, indent=2))
        return 0
    if results:
        print("one passage per document, ordered for relevance and variety (MMR); relevance is cosine similarity\n")
    for rank, result in enumerate(results, 1):
        snippet = " ".join(result.text.split())[:160]
        print(f"{rank:>2}. relevance {result.score:.3f}  [{result.category}] {result.title or '(untitled)'}")
        print(f"    {result.url}")
        print(f"    {snippet}")
    if not results:
        print("no results")
    return 0


def _sole_or_named_author(args: argparse.Namespace) -> str:
    from twin_assets.settings import config_path, load_config

    return args.author or load_config(config_path()).sole_author("choose one with --author").id


def _experiments(args: argparse.Namespace) -> int:
    import json

    from training.tracking import experiment_name
    from twin_assets.models.experiments import experiment_rows, render_table, table_columns
    from twin_assets.settings import local_state_dir, twin_home

    author = _sole_or_named_author(args)
    rows = experiment_rows(local_state_dir(twin_home()), author)
    if not rows:
        # Like search on an empty index: nothing to show until a step upstream has run.
        print(f"twin: no training runs for {author!r} yet (experiment {experiment_name(author)}); "
              "materialize twin_model first (make run)", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"author": author, "experiment": experiment_name(author), "runs": rows}, indent=2))
        return 0
    print(f"training runs of {experiment_name(author)}, newest first (times in UTC)\n")
    print(render_table(rows, table_columns(rows)))
    print("\nopen the MLflow UI with `make experiments`")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from twin_assets.models.evaluation_assets import current_user
    from twin_assets.models.registry import model_name, promote, rollback
    from twin_assets.settings import local_state_dir, twin_home

    author, home = _sole_or_named_author(args), local_state_dir(twin_home())
    who = current_user()
    if args.command == "promote":
        moved = promote(home, author, args.version, who, args.reason)
    else:
        moved = rollback(home, author, who, args.reason)
    print(f"{model_name(author)}: production is version {moved.version} ({moved.tags.get('twin_version', '')}), "
          f"moved by {who}: {args.reason}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twin", description="LLM Twin: collect, search and write in one author's voice.")
    commands = parser.add_subparsers(dest="command", required=True)
    collect = commands.add_parser("collect", help="collect every author's sources now, or only the named authors")
    collect.add_argument("--author", action="append", metavar="ID", help="an author id from twin.yaml (repeatable)")
    collect.set_defaults(handler=_collect)
    forget = commands.add_parser("forget", help="remove everything collected from one author from the raw tables")
    forget.add_argument("--author", required=True, metavar="ID", help="the author id whose rows leave the lake")
    forget.set_defaults(handler=_forget)
    search = commands.add_parser("search", help="search the author's writing by meaning")
    search.add_argument("query")
    search.add_argument("--k", type=int, default=5, help="how many results (default 5)")
    search.add_argument("--author", metavar="ID", help="only this author's writing")
    search.add_argument("--category", choices=["article", "post", "repository"], help="only this kind of writing")
    search.add_argument("--json", action="store_true", help="print JSON: {\"results\": [...]}")
    search.set_defaults(handler=_search)
    experiments = commands.add_parser("experiments", help="compare the author's training runs side by side")
    experiments.add_argument("--author", metavar="ID", help="whose runs (default: the only author in twin.yaml)")
    experiments.add_argument("--json", action="store_true", help="print JSON: {\"author\", \"experiment\", \"runs\": [...]}")
    experiments.set_defaults(handler=_experiments)
    promote = commands.add_parser("promote", help="put a registered version of the twin into production by hand")
    promote.add_argument("version", type=int, help="the registry version number (see twin experiments)")
    rollback = commands.add_parser("rollback", help="put the version production held before back into production")
    for command in (promote, rollback):
        command.add_argument("--author", metavar="ID", help="whose twin (default: the only author in twin.yaml)")
        command.add_argument("--reason", default="by hand", help="why, recorded in the registry with who moved it")
        command.set_defaults(handler=_promote)
    args = parser.parse_args(argv)
    from twin_assets.settings import ConfigError

    try:
        return args.handler(args)
    except (ConfigError, ValueError) as exc:
        print(f"twin: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
