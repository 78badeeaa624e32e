"""`chatbot config`: show, locate and edit the one config file shared by server and CLI."""

# Annotations stay objects, not strings (no `from __future__ import annotations`): typer reads
# every command's on each start (tests/cli/test_startup.py).

import typer

from chatbot_cli.cli.common import HELP_MARKUP, fail, handle_errors, print_json, settings

app = typer.Typer(
    rich_markup_mode=HELP_MARKUP,
    help="Show and edit the configuration (shared by `chatbot serve` and the CLI).",
)


@app.command("show")
def show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of KEY = VALUE lines."),
) -> None:
    """Show the effective settings (flags > CHATBOT_* env > config file > defaults), secrets
    redacted."""
    values = settings().redacted()
    if as_json:
        print_json(values)
        return
    for key, value in values.items():
        typer.echo(f"{key} = {'' if value is None else value}")


@app.command("path")
def path() -> None:
    """Print the config file path (CHATBOT_CONFIG overrides it)."""
    from chatbot_cli.config import config_path

    typer.echo(str(config_path()))


def _coerce(key: str, raw: str) -> object:
    """Validate one value through Settings itself so the file never holds a value the next run
    would reject; return it in the type TOML should store."""
    from pydantic import SecretStr, ValidationError

    from chatbot_cli.config import Settings

    if key not in Settings.model_fields:
        known = ", ".join(sorted(Settings.model_fields))
        fail(f"Unknown setting '{key}'. Known settings: {known}", 2)
    value: object = raw
    if key == "cors_origins":
        value = [part.strip() for part in raw.split(",") if part.strip()]
    try:
        checked = Settings.model_validate({key: value}).__getattribute__(key)
    except ValidationError as exc:
        fail(f"Invalid value for '{key}': {exc.errors()[0].get('msg')}", 2)
    if isinstance(checked, SecretStr):
        return checked.get_secret_value()
    if hasattr(checked, "__fspath__"):
        return str(checked)
    return checked


@app.command("set")
def set_(
    key: str = typer.Argument(..., help="Setting name, e.g. url, api_key, port, model."),
    value: str = typer.Argument(..., help="New value (cors_origins: comma-separated)."),
) -> None:
    """Store KEY = VALUE in the config file (created mode 0600)."""
    from chatbot_cli.config import SECRET_FIELDS, read_config_file, write_config_values

    with handle_errors():
        read_config_file()  # a file that cannot be read is named, never overwritten
    stored = _coerce(key, value)
    path = write_config_values({key: stored})
    shown = "********" if key in SECRET_FIELDS else stored
    typer.echo(f"{key} = {shown}  ({path})")


@app.command("unset")
def unset(key: str = typer.Argument(..., help="Setting name to remove from the file.")) -> None:
    """Remove KEY from the config file, so its default (or environment) applies again."""
    import os

    import tomli_w

    from chatbot_cli.config import config_path, read_config_file

    with handle_errors():
        data = read_config_file()
    if key not in data:
        fail(f"'{key}' is not set in {config_path()}", 1)
    del data[key]
    target = config_path()
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(data, fh)
    os.replace(tmp, target)
    typer.echo(f"removed {key} ({target})")
