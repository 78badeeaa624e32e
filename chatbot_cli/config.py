"""The one Settings class for server and CLI, and the paths it lives in.

Precedence: command-line flag (passed as init kwargs) > CHATBOT_* environment > TOML file > default,
applied by `_precedence.resolve`, which the CLI's fast path uses too. The TOML file is in the
platformdirs user config dir unless CHATBOT_CONFIG names another one.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from chatbot_cli._precedence import FILE_ERRORS, env_name, resolve
from chatbot_cli.errors import ConfigError
from chatbot_cli.paths import (  # noqa: F401 - re-exported
    APP_NAME,
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    config_path,
    default_data_dir,
    url_problem,
)

SECRET_FIELDS = frozenset({"api_key", "upstream_key"})


def _default_parallel() -> int:
    # Continuous batching pays off up to a few slots per core on small models (see engine notes).
    return max(2, min(8, 4 * (os.cpu_count() or 1)))


class _Layers(PydanticBaseSettingsSource):
    """Settings' only source: every field by `_precedence.resolve` (flag > env > file), so the
    CLI's fast path, which calls it too, cannot disagree; pydantic applies the defaults."""

    def __init__(self, settings_cls: type[BaseSettings], flags: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._flags = flags

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        try:
            found = resolve(fields, self._flags)
        except FILE_ERRORS as exc:
            raise config_file_error(config_path(), exc) from None
        values: dict[str, Any] = {}
        for name, (layer, value) in found.items():
            if layer == "env" and self.field_is_complex(fields[name]):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise ConfigError(
                        f"Invalid setting '{name}': {env_name(name)} must be JSON, "
                        'e.g. ["a", "b"] for a list.'
                    ) from None
            values[name] = value
        return values


class Settings(BaseSettings):
    # Sources are replaced by `_Layers` (see settings_customise_sources): no env_prefix here.
    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    # Client side
    url: str = Field(DEFAULT_URL, description="Server the CLI talks to")
    log: bool = Field(
        True, description="`chatbot chat` keeps its conversations on the server (chatbot log)"
    )
    api_key: SecretStr | None = Field(None, description="Bearer key (server accepts, CLI sends)")
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0, description="CLI request timeout in seconds")

    # Server side
    host: str = Field("127.0.0.1", description="Address `chatbot serve` binds")
    port: int = Field(8000, ge=0, le=65535, description="Port `chatbot serve` binds")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data dir")
    data_dir: Path = Field(default_factory=default_data_dir, description="SQLite file, logs")
    models_dir: Path | None = Field(
        None, description="Where `chatbot models pull` keeps models; default: data_dir/models"
    )
    db_pool_size: int = Field(10, ge=1, le=1000, description="PostgreSQL connections kept open")
    db_max_overflow: int = Field(
        20, ge=0, le=1000, description="Extra PostgreSQL connections opened under load"
    )
    db_pool_timeout: float = Field(
        30.0, gt=0, description="Seconds a request waits for a free database connection"
    )
    db_connect_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait when opening a database connection"
    )
    model: str | None = Field(
        None,
        description="Default model: a GGUF file path or a pulled model's id; default: embedded "
        "SmolLM2. Every pulled model is served too, by its id",
    )
    max_loaded_models: int = Field(
        1,
        ge=1,
        le=64,
        description="Models kept loaded at once; loading another unloads the least recently "
        "used idle one",
    )
    model_ttl: float = Field(
        0.0,
        ge=0,
        description="Seconds an idle model stays loaded (like Ollama's keep_alive); 0 = until "
        "another model needs its place",
    )
    model_load_timeout: float = Field(
        120.0,
        gt=0,
        description="Seconds a request waits for its model to load (or for a loaded model to "
        "become idle to make room) before a 503 with Retry-After",
    )
    engine: Literal["llamacpp", "ctransformers", "openai", "none"] = Field(
        "llamacpp", description="Inference backend ('none' serves todos only)"
    )
    parallel: int = Field(default_factory=_default_parallel, ge=1, le=64, description="Slots")
    queue_size: int = Field(16, ge=0, le=10_000, description="Requests waiting for a slot")
    n_ctx: int = Field(
        4096, ge=64, description="KV cache tokens; each slot gets max(n_ctx/parallel, 1024)"
    )
    prompt_cache_mib: int = Field(
        0,
        ge=0,
        description="RAM (MiB) for prompts evicted from slots; 0 = off (each slot keeps its last)",
    )
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="CPU threads"
    )
    warmup: bool = Field(True, description="Run one tiny generation before reporting ready")
    upstream_url: str | None = Field(None, description="OpenAI-compatible server (engine=openai)")
    upstream_key: SecretStr | None = Field(None, description="Key sent to the upstream server")
    no_auth: bool = Field(False, description="Disable auth (loopback only, for development)")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Request body cap")
    max_tokens_limit: int = Field(8192, ge=1, description="Largest max_tokens accepted")
    max_messages: int = Field(512, ge=1, description="Most messages in one request")
    max_prompt_chars: int = Field(
        200_000, ge=1, description="Most prompt characters in one request"
    )
    log_level: str = Field("info", description="Server log level")
    # Longer than HTTP clients keep idle pooled connections (httpx's and the openai SDK's default,
    # and uvicorn's own): when both sides time out together, a client can send on a connection
    # the server is closing, and that request fails with a read error.
    keep_alive: int = Field(
        75, ge=1, le=3600, description="Seconds an idle client connection stays open"
    )
    # Long enough for a slow network to send a few KB of headers, short enough that a client
    # holding connections open without finishing a request frees them within seconds.
    header_timeout: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request's complete headers (from connecting, "
        "or from a later request's first byte); then the connection is closed",
    )
    # Long enough for the largest accepted body on a slow link, short enough that a client
    # trickling a body a byte at a time cannot hold a connection and a request task for long.
    body_timeout: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request's body once its headers are in; "
        "then it gets a 408 and the connection is closed",
    )
    # A client wakes up once per socket write, and on a small machine that CPU comes out of the
    # decode threads' share: holding fast tokens briefly cuts a streaming client's CPU by about
    # two thirds (figures in docs/design.md, "The
    # streaming path"). The first token and the end of a stream are never
    # held, and `chatbot chat` redraws less often than this anyway.
    stream_flush_ms: int = Field(
        50,
        ge=0,
        le=1000,
        description="While streamed tokens come faster than one per half this many ms, they "
        "are written together at most this often (each still its own SSE event); 0 writes "
        "each at once",
    )

    tool_rounds: int = Field(
        4,
        ge=0,
        le=50,
        description="`chatbot chat --tools`: most rounds of tool calls in one turn, then the "
        "model must answer",
    )

    @field_validator("url", "upstream_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        problem = url_problem(v) if v is not None else None
        if problem:
            raise ValueError(problem)
        return v.rstrip("/") if v else v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        assert isinstance(init_settings, InitSettingsSource)
        return (_Layers(settings_cls, init_settings.init_kwargs),)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'chatbot.db'}"

    @property
    def effective_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    def api_key_value(self) -> str | None:
        return self.api_key.get_secret_value() if self.api_key else None

    def redacted(self) -> dict[str, Any]:
        """Every field as plain JSON-able values, secrets replaced."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRET_FIELDS:
                out[name] = "********" if value else None
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        out["database_url"] = redact_url(self.effective_database_url)
        return out


def redact_url(url: str) -> str:
    """The URL with its password hidden (postgresql://user:********@host/db), for messages and
    `chatbot config show`. Plain string work: it never fails, even on a URL SQLAlchemy rejects."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":********"
        return f"{scheme}://{creds}@{host}"
    return url


def load_settings(**overrides: Any) -> Settings:
    """Build settings; `overrides` are command-line flags (None means "not given").
    ConfigError (one line naming the file) if the config file cannot be read."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def read_config_file(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except FILE_ERRORS as exc:
        raise config_file_error(path, exc) from None


_TOML_WHERE = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def config_file_error(path: Path, exc: Exception) -> ConfigError:
    """The one line a user sees for a config file that cannot be read: the file, for bad TOML
    the line and column (`path:line:column`, as compilers print it), and the way out."""
    fix = "fix or delete that line in an editor, or remove the file to start over"
    if isinstance(exc, tomllib.TOMLDecodeError):
        match = _TOML_WHERE.match(str(exc))
        if match:
            where = f"{path}:{match['line']}:{match['col']}"
            return ConfigError(f"{where}: invalid TOML: {match['msg']}; {fix}.")
        return ConfigError(f"{path}: invalid TOML: {exc}; {fix}.")
    if isinstance(exc, UnicodeDecodeError):
        return ConfigError(f"{path}: not UTF-8 (byte {exc.start}); fix it, or remove the file.")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return ConfigError(f"Cannot read the config file {path}: {reason}.")


def write_config_values(values: dict[str, Any], path: Path | None = None) -> Path:
    """Merge `values` into the TOML file atomically; the file is created mode 0600."""
    import tomli_w

    path = path or config_path()
    data = read_config_file(path)
    data.update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
