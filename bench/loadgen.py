"""A closed-loop HTTP load generator: N keep-alive connections, each sending the same POST back
to back for a fixed time. Runs as its own process (`python -m bench.loadgen`) so the client's CPU
time is never charged to the server being measured. Prints one JSON object.

It has to be much cheaper per request than the server, or it measures itself: an httpx
AsyncClient tops out near 1,100 requests/s on one core here, below what `{ __typename }` reaches.
So each connection is a bare asyncio Protocol writing one pre-encoded request and letting
httptools (the parser uvicorn uses) frame the response: about 20 µs of client time per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

from bench.common import percentile


class _Conn(asyncio.Protocol):
    def __init__(self, request: bytes, run: _Run) -> None:
        self.request = request
        self.run = run
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.sent = 0.0
        self.body = bytearray()
        self.closed = asyncio.get_running_loop().create_future()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, hence a cast, not a check.
        self.transport = cast(asyncio.Transport, transport)
        self._send()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.run.errors.append(repr(exc))
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            if time.perf_counter() < self.run.stop_at:
                self.run.errors.append(f"connection lost: {exc!r}")
            self.closed.set_result(None)

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        now = time.perf_counter()
        status = self.parser.get_status_code()
        if self.sent >= self.run.measure_from:
            self.run.latencies.append(now - self.sent)
            if status != 200 or b'"errors"' in self.body:
                self.run.errors.append(f"{status} {bytes(self.body[:200])!r}")
        self.body.clear()
        if now >= self.run.stop_at:
            self._close()
        else:
            self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent = time.perf_counter()
        self.transport.write(self.request)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _Run:
    def __init__(self, warmup: float, duration: float) -> None:
        self.measure_from = time.perf_counter() + warmup
        self.stop_at = self.measure_from + duration
        self.latencies: list[float] = []
        self.errors: list[str] = []


async def _load(
    url: str, key: str, body: bytes, concurrency: int, duration: float, warmup: float
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = (
        f"POST {parts.path or '/'} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Authorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()
    run = _Run(warmup, duration)
    conns = []
    for _ in range(concurrency):
        _, conn = await loop.create_connection(lambda: _Conn(request, run), host, port)
        conns.append(conn)
    await asyncio.gather(*(c.closed for c in conns))
    elapsed = time.perf_counter() - run.measure_from
    return {
        "requests": len(run.latencies),
        "errors": len(run.errors),
        "first_error": run.errors[0] if run.errors else None,
        "seconds": elapsed,
        "rps": len(run.latencies) / elapsed,
        "p50": percentile(run.latencies, 50),
        "p99": percentile(run.latencies, 99),
        # Each request's latency, for percentiles over several runs (bench/todo_api.py).
        "latencies": [round(t, 6) for t in run.latencies],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="HTTP POST load generator for benchmarks")
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--query", required=True, help="GraphQL document to send")
    parser.add_argument("--variables", default="{}")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    body = json.dumps({"query": args.query, "variables": json.loads(args.variables)}).encode()
    run = _load(args.url, args.key, body, args.concurrency, args.duration, args.warmup)
    try:
        import uvloop

        result = uvloop.run(run)
    except ImportError:
        result = asyncio.run(run)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
