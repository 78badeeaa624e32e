"""`chatbot serve`: run the API server (OpenAI-compatible chat, GraphQL todos) with uvicorn."""

# Annotations stay objects, not strings (no `from __future__ import annotations`): typer reads
# every command's on each start (tests/cli/test_startup.py).

import ipaddress
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from chatbot_cli._precedence import encode_env
from chatbot_cli.cli.common import fail, handle_errors, settings
from chatbot_cli.perms import private_dir

if TYPE_CHECKING:
    from chatbot_cli.config import Settings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(host: str, port: int) -> str:
    """The URL a client uses: an IPv6 address goes in brackets."""
    return f"http://[{host.strip('[]')}]:{port}" if ":" in host else f"http://{host}:{port}"


def port_problem(host: str, port: int) -> str | None:
    """Why uvicorn could not listen on host:port, found by binding it the way uvicorn will
    (before the model loads, so a busy port is one line, not a failure after start-up)."""
    import errno
    import socket

    if port == 0:
        return None
    address = host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
    except OSError as exc:
        where = base_url(host, port).removeprefix("http://")
        hint = " (another server is running there: stop it or pick another --port)"
        reason = exc.strerror or str(exc)
        return f"Cannot listen on {where}: {reason}{hint if exc.errno == errno.EADDRINUSE else ''}"
    return None


def _log_config(level: str) -> dict[str, object]:
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    loggers = ("uvicorn", "uvicorn.error", "chatbot")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": fmt}},
        "handlers": {"stderr": handler},
        "loggers": {
            **{
                name: {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
                for name in loggers
            },
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises the signal that stopped it, so a clean SIGTERM shutdown would end
        the process with -15 and SIGINT with a traceback. A graceful shutdown that completed is a
        success: remember the signal instead and exit 0 (SIGTERM) or 130 (SIGINT)."""

        signals_seen: set[int]

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            self.signals_seen = {*getattr(self, "signals_seen", set()), sig}
            # Private: uvicorn re-raises what this list holds when capture_signals() exits. Pinned
            # in pyproject.toml; tests/cli/test_serve.py fails if the name or its use changes.
            self._captured_signals.clear()

    return Server


def _Server(config: object) -> Any:  # noqa: N802 - reads like the class it builds
    server = _server_class()(config)
    server.signals_seen = set()
    return server


def _migrate(s: "Settings") -> None:
    """Open the database and apply pending migrations before uvicorn starts, so a bad URL or an
    unreachable database is one clear line, not a lifespan traceback."""
    import asyncio
    import subprocess

    from chatbot_cli.db.session import Database

    async def at_head() -> bool:
        database = Database.from_settings(s)
        try:
            await database.connect()
            return await database.at_head()
        finally:
            await database.dispose()

    if asyncio.run(at_head()):
        return
    # Alembic and the migration scripts would stay in memory for the server's whole life once
    # imported, so a first start or an upgrade migrates in a short-lived child process. It reads
    # the same config; the URL is passed on because it may have come from a flag.
    env = {**os.environ, **encode_env({"database_url": s.effective_database_url})}
    cmd = [sys.executable, "-m", "chatbot_cli", "db", "upgrade"]
    code = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode
    if code:
        raise typer.Exit(code)  # the child printed the one-line reason


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port to bind (default 8000)."),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Default model: a GGUF file or a pulled model's id (default: the embedded "
        "SmolLM2). Every pulled model is served too, loaded when first asked for.",
    ),
    max_loaded_models: int | None = typer.Option(
        None,
        help="Models kept loaded at once (default 1); the least recently used idle one makes room.",
    ),
    model_ttl: float | None = typer.Option(
        None, help="Unload a model idle this many seconds (default 0: keep it until evicted)."
    ),
    engine: str | None = typer.Option(
        None, help="Inference backend: llamacpp, ctransformers, openai or none (todos only)."
    ),
    parallel: int | None = typer.Option(None, help="Generation slots run concurrently."),
    queue_size: int | None = typer.Option(None, help="Requests that may wait for a slot."),
    n_ctx: int | None = typer.Option(None, "--n-ctx", help="Context window in tokens."),
    threads: int | None = typer.Option(None, help="CPU threads for inference."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="SQLAlchemy URL (default: SQLite in the data dir)."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", help="Key clients must send (default: from config, or generated)."
    ),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Disable auth (development only; loopback hosts only)."
    ),
    cors_origin: list[str] = typer.Option(  # noqa: B008
        [], "--cors-origin", help="Allow this browser origin (repeatable). Off by default."
    ),
    max_body_bytes: int | None = typer.Option(None, help="Request body cap in bytes."),
    header_timeout: float | None = typer.Option(
        None, help="Seconds a client has to send complete request headers (default 10)."
    ),
    body_timeout: float | None = typer.Option(
        None, help="Seconds a client has to send a request body after its headers (default 60)."
    ),
    upstream_url: str | None = typer.Option(
        None, help="OpenAI-compatible server to forward to (with --engine openai)."
    ),
    upstream_key: str | None = typer.Option(None, help="Key to send to the upstream server."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each loads its own model)."),
    graceful_timeout: float = typer.Option(
        10.0, help="Seconds open streams get to finish on shutdown."
    ),
    warmup: bool | None = typer.Option(
        None, "--warmup/--no-warmup", help="Run one tiny generation before reporting ready."
    ),
    log_level: str | None = typer.Option(None, help="debug, info, warning or error."),
) -> None:
    """Start the server: /v1/chat/completions, /v1/models, /graphql, /health, /metrics, /docs."""
    flags = {
        "host": host,
        "port": port,
        "model": model,
        "max_loaded_models": max_loaded_models,
        "model_ttl": model_ttl,
        "engine": engine,
        "parallel": parallel,
        "queue_size": queue_size,
        "n_ctx": n_ctx,
        "threads": threads,
        "database_url": database_url,
        "api_key": api_key,
        "no_auth": no_auth or None,
        "cors_origins": list(cors_origin) or None,
        "max_body_bytes": max_body_bytes,
        "header_timeout": header_timeout,
        "body_timeout": body_timeout,
        "upstream_url": upstream_url,
        "upstream_key": upstream_key,
        "warmup": warmup,
        "log_level": log_level,
    }
    s = settings(**flags)
    if s.no_auth and not is_loopback(s.host):
        fail(f"--no-auth is only allowed on a loopback host, not {s.host}.", 2)
    if "*" in s.cors_origins:
        # A wildcard origin lets any web page script this server with the user's key.
        fail("--cors-origin '*' is refused: list the origins you trust.", 2)
    problem = port_problem(s.host, s.port)
    if problem:
        fail(problem, 2)

    with handle_errors():
        from chatbot_cli.auth import ensure_server_key
        from chatbot_cli.engine.registry import check_models

        check_models(s)
        _migrate(s)
        if not s.no_auth:
            _, written = ensure_server_key(s)
            if written is not None:
                sys.stderr.write(
                    f"Generated an API key and stored it in {written} (mode 0600). "
                    "`chatbot` commands on this machine use it automatically.\n"
                )
    private_dir(Path(s.data_dir))

    import uvicorn

    from chatbot_cli.server import httpconn

    # The protocol (here and in worker processes) reads its deadlines from the environment.
    os.environ[httpconn.ENV] = str(s.header_timeout)
    os.environ[httpconn.BODY_ENV] = str(s.body_timeout)
    common: dict[str, Any] = {
        "http": httpconn.IMPORT_PATH,
        "host": s.host,
        "port": s.port,
        "log_config": _log_config(s.log_level),
        "access_log": False,  # our middleware logs with request id and key name
        "timeout_graceful_shutdown": graceful_timeout,
        "proxy_headers": False,
        "h11_max_incomplete_event_size": 64 * 1024,
        "timeout_keep_alive": s.keep_alive,
    }
    sys.stderr.write(f"chatbot serving on {base_url(s.host, s.port)} (docs at /docs)\n")
    if workers == 1:
        from chatbot_cli.server.app import create_app

        server = _Server(uvicorn.Config(create_app(s), **common))  # type: ignore[arg-type]
        server.run()
        if signal.SIGINT in server.signals_seen:
            raise typer.Exit(130)
        if not server.started:
            # The lifespan failed (it logged why): never report success.
            raise typer.Exit(1)
        return
    # Worker processes build their settings from the environment and the config file: hand them
    # every flag given here, and the key in use (it may have just been generated).
    given: dict[str, Any] = {name: value for name, value in flags.items() if value is not None}
    if s.api_key is not None:
        given["api_key"] = s.api_key
    os.environ.update(encode_env(given))
    from chatbot_cli.server import workers as worker_processes

    # Workers exit when this process dies, even by kill -9 (server/workers.py).
    os.environ[worker_processes.ENV] = str(os.getpid())
    uvicorn.run(  # type: ignore[arg-type]
        worker_processes.FACTORY, factory=True, workers=workers, **common
    )
