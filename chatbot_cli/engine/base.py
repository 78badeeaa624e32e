"""The Engine protocol and the request / chunk types every backend speaks.

A backend turns one `GenerationRequest` (a single choice: the router fans `n > 1` out into n
requests) into an async stream of `Chunk`s. Closing the async iterator early (`aclose()`, or the
consumer task being cancelled) must stop generation and free the slot within a second.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from chatbot_cli.engine.handover import Pace


@dataclass(slots=True)
class GenerationRequest:
    # OpenAI-shaped messages: assistant ones may carry `tool_calls`, tool ones `tool_call_id`.
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    # Passed through untouched to backends that understand them (e.g. response_format).
    extra: dict[str, Any] = field(default_factory=dict)
    # When the consumer takes chunks next: a backend that hands them over from a thread need
    # not wake the loop for them earlier (engine/handover.py). Not a generation parameter;
    # backends may ignore it.
    pace: Pace | None = field(default=None, compare=False, repr=False)

    def openai_body(self) -> dict[str, Any]:
        """The request as an OpenAI-style streaming body (no `model`): what both llama.cpp's
        handler and upstream servers take. Unset options are left out, so backends apply their
        own defaults."""
        body: dict[str, Any] = {**self.extra}
        body["messages"] = self.messages
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        optional = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "stop": list(self.stop) or None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


@dataclass(slots=True)
class Chunk:
    """One step of a generation: some text, and on the last chunk the finish reason and usage."""

    content: str = ""
    finish_reason: str | None = None  # "stop" | "length" | "tool_calls" on the last chunk
    prompt_tokens: int | None = None  # set on the last chunk
    completion_tokens: int | None = None  # set on the last chunk
    # OpenAI `delta.tool_calls` entries: index, id, type and name first, then argument fragments.
    tool_calls: list[dict[str, Any]] | None = None


# How an engine honours `tools` and `response_format` (see server/tools.py):
NATIVE = "native"  # passes them on and returns tool calls itself (an upstream server)
GRAMMAR = "grammar"  # constrains its output to a JSON schema given as response_format
PLAIN = "plain"  # neither: such requests are refused


@dataclass(slots=True)
class ModelInfo:
    id: str
    path: str | None
    size_bytes: int | None
    context_length: int | None
    owned_by: str = "chatbot"
    structured: str = PLAIN
    # The model was trained to call tools (its chat template reads a `tools` variable, or an
    # upstream's card lists "tools"), so clients such as `chatbot chat` turn them on by
    # default (GRAMMAR alone only keeps calls well-formed, it does not make a model understand).
    tool_template: bool = False
    # The context the model was trained with (its GGUF's `<arch>.context_length`), where
    # `context_length` is what one conversation gets here: `models list` shows both.
    trained_context: int | None = None


@runtime_checkable
class Engine(Protocol):
    """What the server needs from a backend."""

    @property
    def models(self) -> list[ModelInfo]: ...

    async def start(self) -> None:
        """Load the model(s) and warm up; raise ChatbotError subclasses with a clear message."""

    def stream(self, model: str, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Generate one choice. Raises ModelNotFound, ContextLengthExceeded, InvalidRequest,
        Overloaded (all slots busy and the wait queue full) or EngineFailure."""
        ...

    async def close(self) -> None:
        """Cancel every running generation, join workers, free the model. Idempotent."""

    def stats(self) -> dict[str, int]:
        """Gauges for /metrics: {"busy_slots": .., "queue_depth": .., "slots": ..}."""
        ...


@runtime_checkable
class Exits(Protocol):
    """An engine whose model runs where it can end without being closed (a worker process that
    is killed or crashes). Whoever holds it learns of that end, to unload the model at once."""

    def on_exit(self, callback: Callable[[str], None]) -> None:
        """Call `callback(reason)` on the event loop when the model ends on its own (at once if
        it already has); `reason` says how, for the log. Never called after close()."""
