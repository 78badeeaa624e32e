"""What every benchmark shares: the run context, result rows, the table, server helpers and the
one streaming client measurement (the official `openai` SDK)."""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from tests.live import LiveServer

ROOT = Path(__file__).resolve().parent.parent

# Prompts that make SmolLM2 write at length, so greedy generations run to max_tokens and a
# stream that comes back shorter is the server's doing, not the model's.
TOPICS = [
    "a lighthouse keeper", "a lost robot", "a dragon who bakes bread", "a city under the sea",
    "a clockmaker's apprentice", "a talking cat", "a journey to Mars", "a haunted library",
    "a pirate who fears water", "a garden on the moon", "a detective in Paris",
    "an old violin", "a forest that whispers", "a time-travelling postman",
    "a village of giants", "a desert caravan", "a snow leopard", "a rainy night in Tokyo",
]  # fmt: skip


def prompt(i: int) -> str:
    """Prompt number i; no two share more than a few leading tokens, so none hits the cache of
    another."""
    topic = TOPICS[i % len(TOPICS)]
    return f"Story {i}: write a long, detailed story about {topic}. Use many paragraphs."


@dataclass
class Context:
    """One benchmark run: the model, the knobs shared by our server and the references."""

    quick: bool
    model: Path
    work: Path
    parallel: int
    threads: int
    n_ctx_total: int  # llama.cpp's n_ctx (all slots), exactly as our engine computes it
    peer: str | None = None
    peer_python: Path = Path(sys.executable)
    verbose: bool = False

    @property
    def max_tokens(self) -> int:
        return 32 if self.quick else 128

    def log(self, message: str) -> None:
        sys.stderr.write(f"[bench] {message}\n")
        sys.stderr.flush()


@dataclass
class Row:
    figure: str
    value: str
    baseline: str = "—"
    ratio: float | None = None
    target: str = "—"
    ok: bool | None = None  # None: informational, or the target could not be checked
    note: str = ""

    @property
    def result(self) -> str:
        if self.ok is None:
            # A target that could not be checked says why in its note; a row without a target
            # is information only, notes or not.
            return "skip" if self.note and self.target != "—" else "—"
        return "pass" if self.ok else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "value": self.value,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": self.target,
            "result": self.result,
            "note": self.note,
        }


COLUMNS = ("figure", "value", "baseline", "ratio", "target", "result")


def render_table(rows: Sequence[Row]) -> str:
    """A Markdown table (pastes straight into the README), columns padded for the terminal."""
    cells = [list(COLUMNS)]
    for r in rows:
        ratio = "—" if r.ratio is None or math.isnan(r.ratio) else f"{r.ratio:.2f}"
        cells.append([r.figure, r.value, r.baseline, ratio, r.target, r.result])
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in cells[1:]]
    notes = [f"- {r.figure}: {r.note}" for r in rows if r.note]
    if notes:
        out += ["", "Notes:", *notes]
    return "\n".join(out)


def ms(seconds: float) -> str:
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def secs(seconds: float) -> str:
    return f"{seconds:.3f} s"


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    data = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(data)))
    return data[rank - 1]


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- servers -----------------------------------------------------------------------------


def isolated_env(home: Path) -> dict[str, str]:
    """This process's environment without CHATBOT_* settings, config and data under `home`, so
    a benchmark never reads or writes the user's own configuration or database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update(
        {
            "CHATBOT_CONFIG": str(home / "config.toml"),
            "CHATBOT_DATA_DIR": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "xdg-config"),
            "XDG_DATA_HOME": str(home / "xdg-data"),
            "NO_COLOR": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
    )
    return env


def start_chatbot(ctx: Context, name: str, *, model: bool = True) -> LiveServer:
    """A real `chatbot serve` process (engine = llama.cpp on ctx.model, or none)."""
    from tests.live import LiveServer

    home = ctx.work / name
    home.mkdir(parents=True, exist_ok=True)
    args = ["--parallel", str(ctx.parallel), "--threads", str(ctx.threads)]
    if not model:
        args += ["--engine", "none"]
    server = LiveServer(
        home=home,
        model=ctx.model if model else None,
        extra_args=args,
        extra_env={"PYTHONPATH": isolated_env(home)["PYTHONPATH"]},
    )
    ctx.log(f"starting chatbot serve ({name})")
    return server.start(timeout=180)


def database_server(ctx: Context, name: str, url: str) -> LiveServer:
    """A real `chatbot serve` with no engine, on the database at `url` (figures 7 and 11)."""
    from tests.live import LiveServer

    home = ctx.work / name
    home.mkdir(parents=True, exist_ok=True)
    server = LiveServer(
        home=home,
        model=None,
        extra_args=["--engine", "none"],
        extra_env={"CHATBOT_DATABASE_URL": url},
    )
    return server.start(timeout=180)


# --- databases ---------------------------------------------------------------------------

PG_ADMIN = os.environ.get("CHATBOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def on_sqlite_and_postgres(
    ctx: Context, figure: str, sqlite_file: str, measure: Callable[[Context, str, str], list[Row]]
) -> list[Row]:
    """A figure measured on both databases the package runs on: `measure(ctx, kind, url)` on a
    SQLite file under ctx.work, then on a scratch PostgreSQL database of PG_ADMIN's server, dropped
    after. With no server there, the SQLite rows still stand (a laptop has no PostgreSQL)."""
    rows = measure(ctx, "SQLite", f"sqlite:///{ctx.work / sqlite_file}")
    name = f"chatbot_bench_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: the SQLite rows still stand
        ctx.log(f"figure {figure}: no PostgreSQL at {PG_ADMIN} (set CHATBOT_BENCH_PG): {exc}")
        return rows
    try:
        return rows + measure(ctx, "PostgreSQL", PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Process:
    """A reference server in a child process, stopped with SIGTERM."""

    proc: subprocess.Popen[bytes]
    url: str
    api_key: str = "unused"
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{url} did not come up within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


# --- one streaming request, as a user of the official SDK sees it ------------------------


@dataclass
class StreamResult:
    ttft: float  # request sent → first non-empty content delta
    total: float  # request sent → stream closed
    tokens: int  # completion tokens (server's usage if it sends it, else content deltas)
    finish: str | None
    chars: int = 0
    error: str | None = None

    @property
    def tok_s(self) -> float:
        return self.tokens / self.total if self.total > 0 else float("nan")

    def short(self, max_tokens: int) -> bool:
        """Cut off: no finish reason, an error, nothing at all, or "length" before max_tokens."""
        if self.error or self.finish is None or self.chars == 0:
            return True
        return self.finish == "length" and self.tokens < max_tokens


async def stream_once(
    client: AsyncOpenAI,
    model: str,
    text: str,
    max_tokens: int,
    extra: dict[str, Any] | None = None,
) -> StreamResult:
    start = time.perf_counter()
    first: float | None = None
    deltas = chars = 0
    usage_tokens: int | None = None
    finish: str | None = None
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": text}],
            max_tokens=max_tokens,
            temperature=0.0,
            stream=True,
            stream_options={"include_usage": True},
            extra_body=extra,
        )
        async for chunk in stream:
            if chunk.usage is not None:
                usage_tokens = chunk.usage.completion_tokens
            for choice in chunk.choices:
                content = choice.delta.content if choice.delta else None
                if content:
                    if first is None:
                        first = time.perf_counter()
                    deltas += 1
                    chars += len(content)
                if choice.finish_reason:
                    finish = choice.finish_reason
    except Exception as exc:  # reported as a short stream; the run goes on
        end = time.perf_counter()
        return StreamResult(end - start, end - start, deltas, None, chars, repr(exc))
    end = time.perf_counter()
    tokens = usage_tokens if usage_tokens is not None else deltas
    return StreamResult((first or end) - start, end - start, tokens, finish, chars)


def openai_client(base_url: str, api_key: str, concurrency: int) -> AsyncOpenAI:
    import httpx2
    from openai import AsyncOpenAI, DefaultAsyncHttpx2Client

    # The SDK's default pool is large enough, but say so: every client needs its own connection.
    limits = httpx2.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency)
    return AsyncOpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=0,
        timeout=600,
        http_client=DefaultAsyncHttpx2Client(limits=limits, timeout=600),
    )


@dataclass
class Timer:
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started
