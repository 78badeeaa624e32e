"""PostgreSQL for the scale tests: the shared server on 127.0.0.1:5432 (a fresh database per
test, through tests/db/pg.py), and a throwaway cluster of our own that a test may stop and start
without disturbing anyone else's tests."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.db import pg
from tests.live import free_port


def require_or_skip(reason: str) -> None:
    """Skip on a developer machine without PostgreSQL; in CI a missing server is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the PostgreSQL variant must run; see .ci/run)")
    pytest.skip(reason)


def fresh_database() -> Iterator[str]:
    """A new, empty database on the shared server, dropped afterwards."""
    if not pg.pg_available():
        require_or_skip(f"no PostgreSQL server at {pg.PG_ADMIN_DSN}")
    yield from pg.database_urls("postgresql", Path("."))


def pg_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


@dataclass
class Cluster:
    """A private PostgreSQL cluster (initdb + pg_ctl) in a temp dir, trust auth, fsync off."""

    bindir: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.root / "data"), "--auth=trust", "-U", "postgres", "-N")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root} -c fsync=off"
        )
        data, logfile = str(self.root / "data"), str(self.root / "postgres.log")
        self._run("pg_ctl", "-D", data, "-l", logfile, "-w", "-o", options, "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-w", "-m", "fast", "stop")

    def is_running(self) -> bool:
        return (self.root / "data" / "postmaster.pid").exists()


def throwaway_cluster() -> Iterator[Cluster]:
    bindir = pg_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        require_or_skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        return
    root = Path(tempfile.mkdtemp(prefix="chatbot-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    cluster = Cluster(bindir, root, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.is_running():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


async def admin(url: str, sql: str) -> object:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def run_admin(url: str, sql: str) -> object:
    return asyncio.run(admin(url, sql))
