"""What a server process that ends keeps of its usage (db/usage_sink.py): after SIGTERM every
acknowledged completion is counted; after kill -9 everything older than the flush interval is."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from chatbot_cli.db.usage_sink import FLUSH_SECONDS
from tests.live import LiveServer

pytestmark = pytest.mark.e2e

BODY = {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


def served(server: LiveServer, count: int) -> int:
    """`count` completions from 4 clients at once; how many were acknowledged (200)."""

    def one(_: int) -> int:
        response = httpx.post(
            server.url + "/v1/chat/completions", json=BODY, headers=server.headers, timeout=60
        )
        return 1 if response.status_code == 200 else 0

    with ThreadPoolExecutor(4) as pool:
        return sum(pool.map(one, range(count)))


def counted(home: Path) -> int:
    conn = sqlite3.connect(home / "data" / "chatbot.db")
    try:
        row = conn.execute("SELECT coalesce(sum(requests), 0) FROM usage_hours").fetchone()
        return int(row[0])
    finally:
        conn.close()


def test_sigterm_right_after_the_requests_loses_nothing(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server()
    acknowledged = served(server, 40)
    assert acknowledged == 40
    # Well within one flush interval of the last answer: only the shutdown's flush saves them.
    assert server.stop() == 0
    assert counted(server.home) == acknowledged


def test_kill_9_loses_at_most_the_last_flush_interval(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server()
    acknowledged = served(server, 30)
    time.sleep(FLUSH_SECONDS + 1.0)  # one flush interval, and time for the write itself
    recent = served(server, 10)  # answered just before the kill: may be lost
    server.kill()
    saved = counted(server.home)
    assert acknowledged <= saved <= acknowledged + recent
