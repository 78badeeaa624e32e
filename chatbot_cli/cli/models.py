"""`chatbot models`: list, show, pull and remove local models; `ps` shows the loaded ones.

Read from disk (file header and metadata only): no engine is loaded. `list` and `rm` also ask a
running server (the configured `url`) what it has loaded, and `ps` shows its answer
(cli/models_running.py). The work is in chatbot_cli/models_store.py and chatbot_cli/pull.py;
huggingface_hub is imported only by `pull`.
"""

# Annotations stay objects, not strings (no `from __future__ import annotations`): typer reads
# every command's on each start (tests/cli/test_startup.py).

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from chatbot_cli.cli.common import HELP_MARKUP, fail, handle_errors, is_tty, print_json, settings

app = typer.Typer(
    rich_markup_mode=HELP_MARKUP,
    help="List, show, pull and remove local GGUF models.",
    no_args_is_help=True,
)


def _human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _human_count(count: int | None) -> str:
    """A parameter count as model cards round it: one decimal and a K, M, B or T suffix."""
    if count is None:
        return "-"
    for scale, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= scale:
            return f"{count / scale:.1f}".removesuffix(".0") + suffix
    return str(count)


def _print_table(headers: tuple[str, ...], cells: Sequence[tuple[str, ...]]) -> None:
    """A Rich table on a terminal; tab-separated lines, no header, in a pipe (for cut and awk)."""
    if is_tty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers)
        for cell in cells:
            table.add_row(*cell)
        Console().print(table)
        return
    for cell in cells:
        typer.echo("\t".join(cell))


@app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="GGUF file to describe instead of the configured one."
    ),
    engine: str | None = typer.Option(
        None, help="Backend to describe: llamacpp, ctransformers or none."
    ),
) -> None:
    """List model ids, files, sizes, parameter counts, trained context lengths and whether the
    chat template takes tools, without starting anything. `--json` adds
    `served_context_length`: the tokens one conversation gets with these settings."""
    s = settings(model=model, engine=engine)
    if s.engine == "openai":
        fail(
            "With engine 'openai' the models are those of the upstream server "
            f"({s.upstream_url or 'upstream_url is not set'}); list them with "
            "`chatbot --url <server> ...` against a running server instead.",
            2,
        )
    from chatbot_cli.engine.models import model_infos
    from chatbot_cli.models_store import Store, parameter_count, pulled_rows, quant_of

    with handle_errors():
        infos = model_infos(s)
        rows: list[dict[str, Any]] = [
            {
                "id": m.id,
                "path": m.path,
                "size_bytes": m.size_bytes,
                "quantisation": quant_of(m.path or ""),
                "parameters": parameter_count(Path(m.path)) if m.path else None,
                "context_length": m.trained_context,
                "served_context_length": m.context_length,
                "tools": m.tool_template,
                "engine": s.engine,
            }
            for m in infos
        ]
        if s.engine == "llamacpp":
            served = {r["id"] for r in rows}
            rows += [
                r for r in pulled_rows(Store(s.effective_models_dir), s) if r["id"] not in served
            ]
    from chatbot_cli.cli.models_running import probe

    # Loaded or not, as the running server says; null when no server answers.
    state = probe()
    for row in rows:
        row["loaded"] = None if state.report is None else row["id"] in state.loaded

    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("No models: the server runs with engine 'none' (todos only).")
        return
    cells = [
        (
            r["id"],
            _human_size(r["size_bytes"]),
            r["quantisation"] or "-",
            _human_count(r["parameters"]),
            str(r["context_length"] or "-"),
            {True: "yes", False: "no", None: "-"}[r.get("tools")],
            {True: "yes", False: "no", None: "-"}[r["loaded"]],
            r["path"] or "-",
        )
        for r in rows
    ]
    _print_table(("ID", "Size", "Quant", "Params", "Context", "Tools", "Loaded", "File"), cells)


@app.command("show")
def show_model(
    model_id: str = typer.Argument(
        ..., metavar="ID", help="A model id from `chatbot models list`."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one model's files, source, hash and GGUF metadata."""
    from chatbot_cli.models_store import Store, show

    s = settings()
    with handle_errors():
        info = show(Store(s.effective_models_dir), model_id)
    if as_json:
        print_json(info)
        return
    meta = info.pop("metadata")
    if info["parameters"] is not None:
        info["parameters"] = f"{_human_count(info['parameters'])} ({info['parameters']})"
    for key, value in info.items():
        typer.echo(f"{key}: {value}")
    for key, value in meta.items():
        typer.echo(f"  {key}: {value}")


@app.command("rm")
def remove_model(
    model_id: str = typer.Argument(..., metavar="ID", help="A pulled model's id."),
    force: bool = typer.Option(
        False, "--force", help="Remove it even while the running server has it loaded."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete a pulled model's files and its manifest entry (refused while a server uses it)."""
    from chatbot_cli.cli.models_running import probe
    from chatbot_cli.models_store import EMBEDDED_ID, Store

    s = settings()
    store = Store(s.effective_models_dir)
    with handle_errors():
        if model_id == EMBEDDED_ID:
            store.remove(model_id)  # refused: it is part of the package
        store.get(model_id)  # an unknown id is exit 5 before the server is asked anything
    if not force:
        state = probe()
        if state.problem is not None:
            fail(
                f"Cannot tell whether the server at {state.url} is using '{model_id}' "
                f"({state.problem}); pass --force to remove it anyway",
                2,
            )
        row = state.loaded.get(model_id)
        if row is not None:
            busy = row.get("active_requests") or 0
            doing = f", {busy} request(s) using it" if busy else ""
            fail(
                f"Refusing to remove '{model_id}': the server at {state.url} has it "
                f"{row.get('state', 'loaded')}{doing}; pass --force to remove it anyway (the "
                "server stops serving it)",
                2,
            )
    with handle_errors():
        entry = store.remove(model_id)
    if as_json:
        print_json({"removed": entry.id, "size_bytes": entry.size})
    else:
        typer.echo(f"Removed {entry.id} ({_human_size(entry.size)})")


@app.command("ps")
def running_models(
    as_json: bool = typer.Option(False, "--json", help="Print the server's JSON report."),
) -> None:
    """Models the running server has loaded: memory, slots in use, when each unloads."""
    import time

    from chatbot_cli.cli.common import make_client

    with handle_errors():
        report = make_client().running_models()
    if as_json:
        print_json(report)
        return
    rows = report.get("data", [])
    if not rows:
        typer.echo("No model is loaded.")
        return
    now = time.time()

    def until(row: dict[str, Any]) -> str:
        if row.get("state") == "loading":
            return "loading"
        expires = row.get("expires_at")
        return "when evicted" if expires is None else f"in {max(0, round(expires - now))} s"

    cells = [
        (
            str(r["id"]) + (" (default)" if r.get("default") else ""),
            _human_size(r.get("memory_bytes")),
            f"{r.get('busy_slots') or 0}/{r.get('slots') or 0}",
            str(r.get("queue_depth") or 0),
            until(r),
        )
        for r in rows
    ]
    _print_table(("ID", "Memory (est.)", "Busy slots", "Queued", "Unloads"), cells)


@app.command("pull")
def pull_model(
    ref: str = typer.Argument(
        ..., metavar="REF", help="ORG/REPO, ORG/REPO:QUANT, ORG/REPO/FILE.gguf or an http(s) URL."
    ),
    name: str | None = typer.Option(None, "--as", help="Id to store the model under."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Download a GGUF model (resumable), check it and add it to the local models."""
    from chatbot_cli.models_store import Store
    from chatbot_cli.pull import pull

    s = settings()
    store = Store(s.effective_models_dir)
    try:
        with handle_errors(), _progress(enabled=is_tty() and not as_json) as progress:
            entry = pull(store, ref, name=name, progress=progress)
    except KeyboardInterrupt:
        fail("Interrupted: run the same pull again to resume it", 130)
    if as_json:
        print_json(
            {
                "id": entry.id,
                "source": entry.source,
                "files": [str(p) for p in store.paths(entry)],
                "size_bytes": entry.size,
                "sha256": entry.sha256,
                "pulled_at": entry.pulled_at,
            }
        )
    else:
        typer.echo(f"Pulled {entry.id} ({_human_size(entry.size)})")


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Any]:
    """A Rich progress bar per file on a terminal; None (nothing drawn) in a pipe."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:

        def start(file: str, total: int | None, done: int) -> Any:
            task = bar.add_task(file, total=total, completed=done)
            return lambda n: bar.advance(task, n)

        yield start
