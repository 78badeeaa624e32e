"""A closed-loop HTTP load generator: N connections, each sending the same GraphQL request
back to back for a fixed time. Runs as its own process (`python -m bench.loadgen`) so the
client's CPU time is never charged to the server being measured. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx

from bench.common import percentile


async def _load(
    url: str, key: str, body: bytes, concurrency: int, duration: float, warmup: float
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=30) as client:

        async def worker() -> None:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    r = await client.post(url, content=body)
                    ok = r.status_code == 200 and b'"errors"' not in r.content
                    problem = "" if ok else f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    problem = repr(exc)
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    latencies.append(t1 - t0)
                    if problem:
                        errors.append(problem)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - measure_from
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="GraphQL load generator for benchmarks")
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--query", required=True)
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
