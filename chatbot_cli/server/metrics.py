"""Prometheus metrics: `install_metrics(app)` adds a public `GET /metrics`.

Every app gets its own CollectorRegistry (tests start many apps in one process). Request counts
come from a pure ASGI middleware that only looks at `http.response.start`, so streaming bodies
pass through untouched; engine gauges are read from `engine.stats()` at scrape time, so the hot
path pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """The instruments the serving code updates (once per request, never per token)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "chatbot_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.graphql = Counter(
            "chatbot_graphql_operations",
            "GraphQL operations by type (query, mutation; unknown when the document named none "
            "that could run) and outcome (ok, or error when the response carries errors)",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.completions = Counter(
            "chatbot_chat_completions",
            "Chat completion requests by outcome (stop, length, error code, cancelled)",
            ["stream", "outcome"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "chatbot_tokens_generated", "Completion tokens generated", registry=self.registry
        )
        self.prompt_tokens = Counter(
            "chatbot_prompt_tokens", "Prompt tokens processed", registry=self.registry
        )
        self.ttft = Histogram(
            "chatbot_time_to_first_token_seconds",
            "Seconds from request to the first generated text",
            ["stream"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.duration = Histogram(
            "chatbot_chat_completion_duration_seconds",
            "Seconds from request to the last byte of a chat completion",
            ["stream"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def graphql_operation(self, operation: str, outcome: str) -> None:
        self.graphql.labels(operation=operation, outcome=outcome).inc()

    def first_token(self, stream: bool, seconds: float) -> None:
        self.ttft.labels(stream=_flag(stream)).observe(seconds)

    def finished(
        self,
        stream: bool,
        outcome: str,
        seconds: float,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        label = _flag(stream)
        self.completions.labels(stream=label, outcome=outcome).inc()
        self.duration.labels(stream=label).observe(seconds)
        if completion_tokens:
            self.tokens.inc(completion_tokens)
        if prompt_tokens:
            self.prompt_tokens.inc(prompt_tokens)


def _flag(stream: bool) -> str:
    return "true" if stream else "false"


class _EngineCollector:
    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        engine = getattr(self._app.state, "engine", None)
        stats: dict[str, int] = {}
        if engine is not None:
            try:
                stats = dict(engine.stats())
            except Exception:  # a scrape must never fail because the engine is mid-shutdown
                stats = {}
        for key, help_text in (
            ("busy_slots", "Slots generating right now"),
            ("queue_depth", "Requests waiting for a slot"),
            ("slots", "Generation slots"),
        ):
            family = GaugeMetricFamily(f"chatbot_engine_{key}", help_text)
            family.add_metric([], float(stats.get(key, 0)))
            yield family


class _RequestCounter:
    """Counts every HTTP request once it has finished, labelled by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route: Any = scope.get("route")
            # The template, never the raw path: raw paths would make label cardinality unbounded.
            template = getattr(route, "path", None) or "<unmatched>"
            self.metrics.requests.labels(
                route=template, method=scope.get("method", ""), status=str(status)
            ).inc()


def install_metrics(app: FastAPI) -> Metrics:
    metrics = Metrics()
    metrics.registry.register(_EngineCollector(app))
    app.state.metrics = metrics
    app.add_middleware(_RequestCounter, metrics=metrics)

    @app.get(
        "/metrics",
        tags=["metrics"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
