"""Fixtures for PostgreSQL end-to-end, health recovery, replicas and workers.

`live_server` is overridden here to run on a fresh PostgreSQL database: the end-to-end suites
imported into test_postgres_e2e.py run unchanged against it (their SQLite variant runs in place).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.live import LiveServer
from tests.scale.pgcluster import Cluster, fresh_database, throwaway_cluster


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the shared server."""
    yield from fresh_database()


@pytest.fixture
def pg_cluster() -> Iterator[Cluster]:
    """A private PostgreSQL cluster this test may stop and start."""
    yield from throwaway_cluster()


@pytest.fixture
def live_server(start_server: Callable[..., LiveServer], pg_url: str) -> LiveServer:
    # Through the environment, so `chatbot keys` / `chatbot db` run with server.env use it too.
    return start_server(extra_env={"CHATBOT_DATABASE_URL": pg_url})
