"""`twin`: what people do from a terminal."""

from __future__ import annotations

import argparse
import os
import sys


def _collect(args: argparse.Namespace) -> int:
    """Runs the `collect` job in the Dagster instance under TWIN_HOME. With --json, stdout carries one
    JSON object per line as the run goes (the web UI reads them): `preparing`, `started` (run id,
    authors), `step` (started, succeeded, failed), one `table` per raw table and `errors` for
    crawl_errors as each is materialized, a `check` per asset check, and last `done` (success, status,
    tables, errors by kind, checks)."""
    import threading
    import time
    import uuid

    from twin_assets.collect.progress import CollectProgress, print_event

    def emit(event: str, **fields) -> None:
        if args.json:
            print_event(event, **fields)

    emit("preparing", authors=args.author or [])
    try:
        import dagster as dg

        from twin_assets.definitions import defs
        from twin_assets.settings import config_path, dagster_home, load_config

        config = load_config(config_path())
        for author_id in args.author or []:
            config.author(author_id)  # an unknown id fails here, before a run is started
        os.environ["DAGSTER_HOME"] = str(dagster_home())  # the instance the UI shows, under TWIN_HOME
        instance = dg.DagsterInstance.get()
    except Exception as exc:
        emit("done", success=False, status="failed", error=str(exc))
        raise
    run_config = {"ops": {"raw_collection": {"config": {"authors": args.author or []}}}}
    if not args.json:
        result = defs.get_job_def("collect").execute_in_process(run_config=run_config, instance=instance)
        for materialization in result.asset_materializations_for_node("raw_collection"):
            rows = materialization.metadata.get("dagster/row_count")
            print(f"{materialization.asset_key.to_user_string():<18} rows={rows.value if rows else '?'}")
        return 0 if result.success else 1

    run_id = str(uuid.uuid4())
    emit("started", run_id=run_id, authors=args.author or [author.id for author in config.authors])
    progress, finished = CollectProgress(emit), threading.Event()
    follower = threading.Thread(target=progress.follow, args=(instance, run_id, finished), name="collect-events",
                                daemon=True)
    follower.start()
    started = time.monotonic()
    try:
        result = defs.get_job_def("collect").execute_in_process(
            run_config=run_config, instance=instance, run_id=run_id, raise_on_error=False)
        success, error = result.success, None
        if not success:
            failures = [e for e in result.all_events if e.event_type_value in ("STEP_FAILURE", "RUN_FAILURE")]
            error = next((f.message for f in failures if f.message), "the run failed")
    except Exception as exc:
        success, error = False, f"{type(exc).__name__}: {exc}"
    finished.set()
    follower.join()
    progress.done(success, run_id, error, time.monotonic() - started)
    return 0 if success else 1


def _forget(args: argparse.Namespace) -> int:
    import polars as pl

    from twin_assets.definitions import defs
    from twin_assets.lake import CRAWL_ERRORS, PROMPT_LOGS, RAW_DOCUMENT_TABLES
    from twin_assets.settings import ConfigError, config_path, load_config

    lake = defs.resources["lake"].lake()
    removed = {}
    # The author's requests to their twin may hold personal data too.
    for spec in (*RAW_DOCUMENT_TABLES.values(), CRAWL_ERRORS, PROMPT_LOGS):
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


def _service_url(args: argparse.Namespace) -> str | None:
    return args.url or os.environ.get("TWIN_URL") or None


def _client(url: str):
    from bento.client import TwinClient

    return TwinClient(url, os.environ.get("TWIN_API_KEY") or None)


def _search_results(args: argparse.Namespace) -> list[dict] | None:
    """Results from the running service at --url/TWIN_URL (milliseconds), else from the index here
    (loads the embedding model first); None when the local index is empty."""
    url = _service_url(args)
    if url:
        with _client(url) as client:
            return [hit.as_dict() for hit in client.search(args.query, args.k, args.author, args.category).results]
    from twin_assets.features.embedding import Embedder
    from twin_assets.features.index import open_index
    from twin_assets.features.retrieval import Retriever
    from twin_assets.settings import embedding_model, local_state_dir, twin_home, vector_backend

    _quiet_model_loading()
    index = open_index(vector_backend(), local_state_dir(twin_home()), os.environ.get("WEAVIATE_URL", ""))
    if index.count() == 0:
        return None
    retriever = Retriever(Embedder(embedding_model()).encode, index)
    return [r.as_dict() for r in retriever.search(args.query, args.k, args.author, args.category)]


def _search(args: argparse.Namespace) -> int:
    import json

    results = _search_results(args)
    if results is None:
        print("twin: the vector index is empty; materialize vector_index first (make run)", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"results": results}, ensure_ascii=False, indent=2))
        return 0
    if results:
        print("one passage per document, ordered for relevance and variety (MMR); relevance is cosine similarity\n")
    for rank, result in enumerate(results, 1):
        snippet = " ".join(result["text"].split())[:160]
        print(f"{rank:>2}. relevance {result['score']:.3f}  [{result['category']}] {result['title'] or '(untitled)'}")
        print(f"    {result['url']}")
        print(f"    {snippet}")
    if not results:
        print("no results")
    return 0


def _print_sources(sources: list, out=sys.stderr) -> None:
    if sources:
        print("\nsources:", file=out)
    for n, source in enumerate(sources, 1):
        print(f"  [{n}] {source.title or '(untitled)'}  {source.url}  (relevance {source.score:.3f}, {source.kind})", file=out)


def _generate(args: argparse.Namespace) -> int:
    from bento.schemas import GenerateRequest, Source

    request = GenerateRequest(
        prompt=args.prompt, author=args.author, category=args.category, links=args.link or [], k=args.k,
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed, stream=args.stream,
    )
    url = _service_url(args)
    if url:
        with _client(url) as client:
            if not args.stream:
                draft = client.generate(request)
                print(draft.text)
                _print_sources(draft.sources)
                print(f"model {draft.model_version}, trace {draft.trace_id}", file=sys.stderr)
                return 0
            sources = []
            for event in client.stream(request):
                if event.name == "start":
                    sources = [Source.model_validate(s) for s in event.data["sources"]]
                elif event.name == "message":
                    print(event.data["text"], end="", flush=True)
                elif event.name == "error":
                    print(f"\ntwin: {event.data['detail']}", file=sys.stderr)
                    return 1
            print()
            _print_sources(sources)
            return 0
    from bento.engine import TwinEngine
    from bento.settings import ServingSettings

    _quiet_model_loading()
    engine = TwinEngine(ServingSettings.from_env(swap_poll_s=0))
    try:
        engine.load()
        generation = engine.generate(request, "cli:generate")
        for piece in generation:
            if args.stream:
                print(piece, end="", flush=True)
        print("" if args.stream else generation.text)
        _print_sources(generation.sources)
        print(f"model {generation.model_version}, trace {generation.trace_id}", file=sys.stderr)
    finally:
        engine.close()
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
    collect.add_argument("--json", action="store_true",
                         help="print progress and the outcome as JSON lines (preparing, started, step, table, errors, done)")
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
    generate = commands.add_parser("generate", help="write a draft in the author's voice, grounded in their writing")
    generate.add_argument("prompt")
    generate.add_argument("--category", choices=["article", "post", "repository"], help="draw only on this kind of writing")
    generate.add_argument("--link", action="append", metavar="URL", help="a page to use as extra knowledge (repeatable)")
    generate.add_argument("--author", metavar="ID", help="whose twin (default: TWIN_AUTHOR or the only author)")
    generate.add_argument("--k", type=int, default=3, help="how many of the author's passages to draw on (default 3)")
    generate.add_argument("--max-new-tokens", type=int, default=256)
    generate.add_argument("--temperature", type=float, default=0.7)
    generate.add_argument("--seed", type=int)
    generate.add_argument("--stream", action="store_true", help="print the draft as it is written")
    for command in (search, generate):
        command.add_argument("--url", help="a running twin service (default TWIN_URL); without it the work is done here")
    generate.set_defaults(handler=_generate)
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
    from pydantic import ValidationError

    from bento.client import ServiceError
    from twin_assets.settings import ConfigError

    try:
        return args.handler(args)
    except ValidationError as exc:
        print(f"twin: {'; '.join(str(e['loc'][0]) + ': ' + e['msg'] for e in exc.errors())}", file=sys.stderr)
        return 2
    except (ConfigError, ValueError) as exc:
        print(f"twin: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"twin: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
