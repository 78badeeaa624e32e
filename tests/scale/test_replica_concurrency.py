"""A key's `--concurrent 1` held by two `chatbot serve` replicas sharing one PostgreSQL database
(generation leases, db/leases.py): while the key streams on one replica it is refused on both,
another key is served meanwhile, back-to-back requests alternating replicas never wait for each
other, and the lease of a replica killed with SIGKILL stops counting on its own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from chatbot_cli.db.leases import LEASE_SECONDS
from tests.live import LiveServer
from tests.server.test_quota import body, post
from tests.tinymodel import write_tiny_model

pytestmark = pytest.mark.e2e

LONG = 8000  # tokens: a stream that runs until the test stops reading it


class Holder:
    """A stream of `key` on `server`, read until `stop` is set."""

    def __init__(self, server: LiveServer, key: str) -> None:
        self.started, self.stop = threading.Event(), threading.Event()
        self.finished = False  # the stream reached [DONE] on its own: no hold any more
        self.thread = threading.Thread(target=self._run, args=(server, key), daemon=True)
        self.thread.start()

    def _run(self, server: LiveServer, key: str) -> None:
        try:
            with (
                httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client,
                client.stream(
                    "POST",
                    server.url + "/v1/chat/completions",
                    json=body(stream=True, max_tokens=LONG),
                ) as response,
            ):
                for line in response.iter_lines():
                    if line.startswith("data: {") and '"content":"' in line:
                        self.started.set()
                    if line == "data: [DONE]":
                        self.finished = True
                    if self.stop.is_set() or self.finished:
                        break
        except httpx.HTTPError:
            pass  # the replica was killed under it
        finally:
            self.started.set()

    def end(self) -> None:
        self.stop.set()
        self.thread.join(60)


def hold(server: LiveServer, key: str) -> Holder:
    """A stream of `key` that is still running (the tiny model may end one early: retry)."""
    for _attempt in range(5):
        holder = Holder(server, key)
        assert holder.started.wait(60)
        if not holder.finished:
            return holder
        holder.end()
    raise AssertionError("every stream ended on its own")


def live_leases(pg_url: str) -> int:
    async def fetch() -> int:
        import asyncpg

        conn = await asyncpg.connect(pg_url)
        try:
            value = await conn.fetchval(
                "SELECT count(*) FROM generation_leases WHERE expires_at > $1", time.time()
            )
        finally:
            await conn.close()
        return int(value)

    return asyncio.run(fetch())


def test_concurrent_cap_holds_across_two_replicas(
    start_server: Callable[..., LiveServer], pg_url: str, tmp_path: Path
) -> None:
    model = write_tiny_model(tmp_path / "long.gguf", context_length=16384)
    env = {"CHATBOT_DATABASE_URL": pg_url}
    args = ["--parallel", "2", "--n-ctx", "32768"]
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(
            lambda i: start_server(
                home=tmp_path / f"r{i}", model=model, extra_args=args, extra_env=env
            ),
            range(2),
        )

    def cli(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "chatbot_cli", *argv],
            env=a.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    one, other = cli("keys", "create", "one"), cli("keys", "create", "other")
    cli("keys", "limit", "one", "--concurrent", "1")

    holder = hold(a, one)
    try:
        for server in (b, a):
            refused = post(server, one)
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "concurrent_requests"
            assert refused.json()["error"]["type"] == "rate_limit_exceeded"
            assert refused.headers["retry-after"] == "1"
        assert post(b, one, n=2).status_code == 400  # n above the cap, as before
        # Another key still gets a slot on either replica.
        assert post(b, other).status_code == 200
        assert post(a, other).status_code == 200
        assert live_leases(pg_url) == 1
    finally:
        holder.end()

    # The client went away: the share comes back without waiting for the lease to expire.
    deadline = time.monotonic() + LEASE_SECONDS / 2
    while (served := post(b, one)).status_code == 429:
        assert time.monotonic() < deadline, "the cut stream's lease was not released"
        time.sleep(0.2)
    assert served.status_code == 200
    # Back to back, alternating replicas, streamed or not: each finds the share free, since
    # a response gives it back before its last bytes.
    for i in range(6):
        response = post((a, b)[i % 2], one, stream=i % 3 == 0)
        assert response.status_code == 200, response.text
    assert live_leases(pg_url) == 0

    # A replica killed mid-stream renews nothing: its lease blocks the key on the other
    # replica until it expires, then no longer.
    holder = hold(a, one)
    a.kill()
    killed = time.monotonic()
    holder.end()
    assert post(b, one).status_code == 429
    deadline = killed + LEASE_SECONDS + 30  # generous: the machine may be loaded
    while (sent := time.monotonic()) and (served := post(b, one)).status_code == 429:
        assert sent < deadline, "a dead replica's lease still blocks the key"
        time.sleep(0.5)
    assert served.status_code == 200
    print(f"a killed replica's share came back: a request sent {sent - killed:.1f} s after")
    assert b.stop() == 0
    assert live_leases(pg_url) == 0
