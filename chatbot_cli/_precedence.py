"""Where a setting comes from: command-line flag > CHATBOT_* environment > TOML file > default.

The one implementation of that order. `config.Settings` reads every field through `resolve` (it is
its only settings source), and the CLI's fast path (`cli/common.client_config`) reads url, api_key
and timeout through it without building Settings, so the two cannot disagree. Free of pydantic
for that reason: importing pydantic-settings would cost the fast path more than it saves.

Matching follows what pydantic-settings did before this module replaced its sources: environment
names and TOML keys are matched case-insensitively, empty environment values are ignored, and a
structured value (a list) in the environment is JSON (`encode_env` writes it that way).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from chatbot_cli.paths import config_path

ENV_PREFIX = "CHATBOT_"

Layer = Literal["flag", "env", "file"]

# What reading the TOML file can raise besides FileNotFoundError (which means "no file"):
# tomllib's TOMLDecodeError and UnicodeDecodeError are ValueErrors, and naming ValueError keeps
# tomllib unimported by a command that finds no file.
FILE_ERRORS = (OSError, ValueError)


def env_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """CHATBOT_* variables by lower-case setting name, empty ones left out."""
    prefix = ENV_PREFIX.lower()
    source = os.environ if environ is None else environ
    return {
        key.lower()[len(prefix) :]: value
        for key, value in source.items()
        if value and key.lower().startswith(prefix)
    }


def file_values(path: Path | None = None) -> dict[str, Any]:
    """The TOML file's top-level keys, lower-cased; {} when there is no file.

    Raises one of FILE_ERRORS when the file exists but cannot be read or parsed."""
    try:
        with (path or config_path()).open("rb") as fh:
            import tomllib

            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    return {key.lower(): value for key, value in data.items()}


def resolve(
    names: Iterable[str],
    flags: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> dict[str, tuple[Layer, Any]]:
    """For each name given somewhere, (the layer it came from, its raw value).

    A name in `flags` is given, whatever its value: callers drop flags that were not passed.
    Names given nowhere are left out, so the caller's default applies. Environment values are
    strings, exactly as set."""
    env = env_values(environ)
    file = file_values(path)
    found: dict[str, tuple[Layer, Any]] = {}
    for name in names:
        if name in flags:
            found[name] = ("flag", flags[name])
        elif name in env:
            found[name] = ("env", env[name])
        elif name in file:
            found[name] = ("file", file[name])
    return found


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def encode_env(values: Mapping[str, Any]) -> dict[str, str]:
    """Settings as environment variables that `resolve` and Settings read back as the same values:
    how `chatbot serve --workers N` hands its flags to the worker processes."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if hasattr(value, "get_secret_value"):  # pydantic's SecretStr, without importing pydantic
            value = value.get_secret_value()
        if isinstance(value, bool):
            out[env_name(name)] = "true" if value else "false"
        elif isinstance(value, list | tuple | dict):
            out[env_name(name)] = json.dumps(value)
        else:
            out[env_name(name)] = str(value)
    return out
