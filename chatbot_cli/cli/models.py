"""`chatbot models`: the models `chatbot serve` would serve with the current settings.

Read from disk (file header and metadata only): no engine is loaded and no server is contacted.
"""

from __future__ import annotations

import typer

from chatbot_cli.cli.common import HELP_MARKUP, fail, handle_errors, is_tty, print_json, settings

app = typer.Typer(
    rich_markup_mode=HELP_MARKUP,
    help="Show the models the server would serve with the current settings.",
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
    """List model ids, files, sizes and context lengths, without starting anything."""
    s = settings(model=model, engine=engine)
    if s.engine == "openai":
        fail(
            "With engine 'openai' the models are those of the upstream server "
            f"({s.upstream_url or 'upstream_url is not set'}); list them with "
            "`chatbot --url <server> ...` against a running server instead.",
            2,
        )
    from chatbot_cli.engine.models import model_infos

    with handle_errors():
        infos = model_infos(s)

    if as_json:
        print_json(
            [
                {
                    "id": m.id,
                    "path": m.path,
                    "size_bytes": m.size_bytes,
                    "context_length": m.context_length,
                    "engine": s.engine,
                }
                for m in infos
            ]
        )
        return
    if not infos:
        typer.echo("No models: the server runs with engine 'none' (todos only).")
        return
    if is_tty():
        from rich.console import Console
        from rich.table import Table

        table = Table("ID", "File", "Size", "Context")
        for m in infos:
            table.add_row(m.id, m.path or "-", _human_size(m.size_bytes), str(m.context_length))
        Console().print(table)
        return
    for m in infos:
        typer.echo(f"{m.id}\t{m.path}\t{_human_size(m.size_bytes)}\t{m.context_length}")
