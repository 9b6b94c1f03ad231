"""The engine's Prometheus metrics, appended to BentoML's own on /metrics: tokens, time to first
token, retrieval latency, requests by outcome, rejected requests and model swaps."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class EngineMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("twin_requests", "Requests by endpoint and outcome", ["endpoint", "outcome"], registry=r)
        self.output_tokens = Counter("twin_output_tokens", "Tokens generated", registry=r)
        self.ttft = Histogram("twin_time_to_first_token_seconds", "From request to the first text piece",
                              buckets=LATENCY_BUCKETS, registry=r)
        self.latency = Histogram("twin_request_latency_seconds", "From request to the last text piece",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.retrieval = Histogram("twin_retrieval_latency_seconds", "Embedding the query and searching the index",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.rejected = Counter("twin_rejected_busy", "Requests refused because every slot was busy", registry=r)
        self.swaps = Counter("twin_model_swaps", "Times a newly promoted model was swapped in", registry=r)
        self.feedback = Counter("twin_feedback", "Ratings and edits received", registry=r)

    def observe_generation(self, endpoint: str, error: str | None, ttft_s: float | None, latency_s: float,
                           output_tokens: int, retrieval_s: float) -> None:
        self.requests.labels(endpoint, error or "ok").inc()
        self.output_tokens.inc(output_tokens)
        if ttft_s is not None:
            self.ttft.observe(ttft_s)
        self.latency.labels(endpoint).observe(latency_s)
        if retrieval_s:
            self.retrieval.observe(retrieval_s)

    def observe_search(self, endpoint: str, error: str | None, latency_s: float) -> None:
        self.requests.labels(endpoint, error or "ok").inc()
        self.latency.labels(endpoint).observe(latency_s)
        self.retrieval.observe(latency_s)

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()
