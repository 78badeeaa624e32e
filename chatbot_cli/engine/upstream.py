"""An engine that forwards to another OpenAI-compatible server (vLLM, llama-server, Ollama, or
another `chatbot serve`) over one pooled httpx client.

Every generation goes upstream as a stream, whatever the client asked for: one code path (chunks),
and each token reaches the client as soon as the upstream sends it.

Decisions:
- An upstream that is down at start is not fatal: we log a warning and start; the model list is
  refetched in the background (every `models_ttl` s, every `retry_interval` s while it fails) and
  before a generation while unknown. Chat requests are forwarded whatever the list says: the
  upstream is the authority on its model ids.
- The upstream URL may be given with or without a trailing `/v1` (SDKs use the latter form).
- A rejected upstream key (401/403) is our misconfiguration, not the client's: 502 naming the
  setting. Other upstream 4xx pass through with their message and status; 5xx and connection
  failures become 502, timeouts 504, upstream 429/503 our 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from chatbot_cli.engine.base import NATIVE, Chunk, GenerationRequest, ModelInfo
from chatbot_cli.engine.models import EMBEDDED_ID
from chatbot_cli.engine.scheduler import SlotGate
from chatbot_cli.errors import (
    ChatbotError,
    ConfigError,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    PayloadTooLarge,
    RequestRejected,
    UpstreamFailure,
    UpstreamTimeout,
    parse_envelope,
)

if TYPE_CHECKING:
    from chatbot_cli.config import Settings

log = logging.getLogger("chatbot.engine.upstream")

_CONTEXT_HINTS = ("context length", "context window", "maximum context", "exceed_context")


def normalise_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"The upstream URL must start with http:// or https://, got {url!r} "
            "(set --upstream-url or CHATBOT_UPSTREAM_URL)."
        )
    return url


class UpstreamEngine:
    """The `Engine` protocol over an OpenAI-compatible HTTP API."""

    def __init__(
        self,
        url: str | None,
        api_key: str | None = None,
        *,
        parallel: int = 4,
        queue_size: int = 16,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        models_ttl: float = 60.0,
        retry_interval: float = 5.0,
    ) -> None:
        if not url:
            raise ConfigError(
                "--engine openai needs an upstream server: pass --upstream-url URL "
                "(or set CHATBOT_UPSTREAM_URL)."
            )
        self.url = normalise_base_url(url)
        self._api_key = api_key
        self._parallel = parallel
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout, pool=connect_timeout)
        self._models_ttl = models_ttl
        self._retry_interval = retry_interval
        self._gate = SlotGate(parallel, queue_size)
        self._client: httpx.AsyncClient | None = None
        self._models: list[ModelInfo] = []
        self._models_ok = False
        self._fetched_at = float("-inf")
        self._refresh_task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> UpstreamEngine:
        # The read timeout bounds the silence between two chunks; the CLI's timeout fits that.
        key = settings.upstream_key.get_secret_value() if settings.upstream_key else None
        return cls(
            settings.upstream_url,
            key,
            parallel=settings.parallel,
            queue_size=settings.queue_size,
            read_timeout=settings.timeout,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        headers = {"User-Agent": "chatbot-upstream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        # A couple of connections beyond the slots so a model refresh never waits behind streams.
        limits = httpx.Limits(
            max_connections=self._parallel + 2, max_keepalive_connections=self._parallel + 2
        )
        self._client = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=self._timeout, limits=limits
        )
        try:
            await self.refresh_models()
        except ChatbotError as exc:
            log.warning("starting without a model list: %s", exc.message)

    async def close(self) -> None:
        self._gate.cancel_waiters(UpstreamFailure("The server is shutting down."))
        task, self._refresh_task = self._refresh_task, None
        if task is not None and not task.done():
            task.cancel()
        client, self._client = self._client, None
        if client is not None:
            # Closing the pool also closes every open upstream stream at once.
            await client.aclose()

    # -- models ----------------------------------------------------------------------------------

    @property
    def models(self) -> list[ModelInfo]:
        self._schedule_refresh()
        return list(self._models)

    def _schedule_refresh(self) -> None:
        if self._client is None or (self._refresh_task and not self._refresh_task.done()):
            return
        if not self._refresh_due():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._refresh_task = loop.create_task(self._refresh_quietly())

    def _refresh_due(self) -> bool:
        wait = self._models_ttl if self._models_ok else self._retry_interval
        return time.monotonic() - self._fetched_at >= wait

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh_models()
        except ChatbotError as exc:
            log.warning("could not refresh the upstream model list: %s", exc.message)

    async def refresh_models(self) -> list[ModelInfo]:
        """Fetch `GET /v1/models` from the upstream; keeps the old list when that fails."""
        client = self._require_client()
        self._fetched_at, self._models_ok = time.monotonic(), False
        try:
            response = await client.get("/v1/models")
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        if response.status_code >= 400:
            raise self.http_error(response.status_code, _json_or_none(response), response)
        body = _json_or_none(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise UpstreamFailure(f"The upstream server at {self.url} sent no model list.")
        self._models = [_model_info(m) for m in data if isinstance(m, dict) and m.get("id")]
        self._models_ok = True
        return list(self._models)

    # -- generation ------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        return self._gate.stats()

    def stream(self, model: str, request: GenerationRequest) -> AsyncIterator[Chunk]:
        return self._generate(model, request)

    def upstream_model(self, model: str) -> str:
        """The id to send upstream. "default" means our first model, as with local engines,
        unless the upstream itself serves a model called "default"; any other id is sent as is
        (the upstream is the authority on which models exist)."""
        ids = [m.id for m in self._models]
        if model == EMBEDDED_ID and ids and model not in ids:
            return ids[0]
        return model

    def payload(self, model: str, request: GenerationRequest) -> dict[str, Any]:
        return {**request.openai_body(), "model": model}

    async def _generate(self, model: str, request: GenerationRequest) -> AsyncIterator[Chunk]:
        granted = await self._gate.acquire()
        started = False
        try:
            client = self._require_client()
            if not self._models_ok and self._refresh_due():
                # The upstream was down or refused us at the last look: look again, so that
                # "default" resolves as soon as it is back.
                await self._refresh_quietly()
            body = self.payload(self.upstream_model(model), request)
            async with aconnect_sse(client, "POST", "/v1/chat/completions", json=body) as source:
                response = source.response
                if response.status_code >= 400:
                    await response.aread()
                    raise self.http_error(response.status_code, _json_or_none(response), response)
                started = True
                async with aclosing(self._chunks(source.aiter_sse())) as chunks:
                    async for chunk in chunks:
                        yield chunk
        except SSEError as exc:  # a TransportError too: check it first
            raise UpstreamFailure(
                f"The upstream server at {self.url} did not answer with an event stream."
            ) from exc
        except httpx.HTTPError as exc:
            if started and not isinstance(exc, httpx.TimeoutException):
                raise UpstreamFailure(
                    f"The connection to the upstream server at {self.url} was lost mid-answer."
                ) from exc
            raise self._transport_error(exc) from exc
        finally:
            self._gate.release(granted)

    async def _chunks(self, events: AsyncIterator[Any]) -> AsyncGenerator[Chunk, None]:
        finish: str | None = None
        prompt_tokens: int | None = None
        completion_tokens: int | None = None
        async for event in events:
            data = event.data
            if data == "[DONE]":
                break
            try:
                obj = json.loads(data)
            except ValueError:
                continue  # comments and keep-alives some servers send
            if not isinstance(obj, dict):
                continue
            if "error" in obj:
                raise self.stream_error(obj)
            usage = obj.get("usage")
            if isinstance(usage, dict):
                prompt_tokens = _int_or_none(usage.get("prompt_tokens"))
                completion_tokens = _int_or_none(usage.get("completion_tokens"))
            choices = obj.get("choices")
            if not choices or not isinstance(choices, list):
                continue
            choice = choices[0]
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            if content or calls:
                yield Chunk(
                    content=str(content or ""),
                    tool_calls=calls if isinstance(calls, list) and calls else None,
                )
            if choice.get("finish_reason"):
                finish = str(choice["finish_reason"])
        if finish is None:
            raise UpstreamFailure(
                f"The upstream server at {self.url} ended the stream before finishing the answer."
            )
        yield Chunk(
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

    # -- errors ----------------------------------------------------------------------------------

    def _require_client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise UpstreamFailure("The upstream engine is not running.")
        return self._client

    def _transport_error(self, exc: httpx.HTTPError) -> UpstreamFailure:
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamTimeout(f"The upstream server at {self.url} did not answer in time.")
        return UpstreamFailure(
            f"Cannot reach the upstream server at {self.url} ({type(exc).__name__})."
        )

    def http_error(
        self, status: int, body: Any, response: httpx.Response | None = None
    ) -> ChatbotError:
        """Map an upstream error response to the error our client should see."""
        fields = parse_envelope(body)
        message, code, param = fields.message, fields.code, fields.param
        if not message and response is not None:
            message = response.text.strip()[:200]
        message = message or f"HTTP {status}"
        where = f"The upstream server at {self.url}"
        if status in (401, 403):
            return UpstreamFailure(
                f"{where} rejected our credentials (HTTP {status}: {message}); check "
                "--upstream-key / CHATBOT_UPSTREAM_KEY."
            )
        if status in (429, 503):
            retry = response.headers.get("retry-after", "") if response is not None else ""
            return Overloaded(
                f"{where} is busy: {message}", retry_after=int(retry) if retry.isdigit() else 1
            )
        if status in (408, 504):
            return UpstreamTimeout(f"{where} timed out: {message}")
        if status >= 500:
            return UpstreamFailure(f"{where} failed (HTTP {status}): {message}")
        if code == "context_length_exceeded" or _mentions_context(message, fields.type):
            return ContextLengthExceeded(message, param=param or "messages")
        if status == 404:
            if body is None or (code != "model_not_found" and "model" not in message.lower()):
                # No envelope, or not about a model: the URL does not lead to an OpenAI API.
                return UpstreamFailure(
                    f"{where} has no OpenAI-compatible API ({message}); check --upstream-url."
                )
            return ModelNotFound(message, param=param or "model")
        if status == 413:
            return PayloadTooLarge(message, param=param)
        if status == 400:
            return InvalidRequest(message, param=param, code=code)
        return RequestRejected(message, status=status, param=param, code=code)

    def stream_error(self, obj: dict[str, Any]) -> ChatbotError:
        """An error event inside an upstream stream (the HTTP status was already 200)."""
        err = obj.get("error")
        status = err.get("code") if isinstance(err, dict) else None
        if isinstance(status, int) and 400 <= status < 600:
            return self.http_error(status, obj)
        fields = parse_envelope(obj)
        message, code, param = fields.message, fields.code, fields.param
        if code == "context_length_exceeded" or _mentions_context(message, fields.type):
            return ContextLengthExceeded(message, param=param or "messages")
        if fields.type == "invalid_request_error" and code != "engine_error":
            return InvalidRequest(message, param=param, code=code)
        return UpstreamFailure(f"The upstream server at {self.url} failed mid-answer: {message}")


def _mentions_context(message: str, type_: str | None) -> bool:
    text = f"{type_ or ''} {message}".lower()
    return any(hint in text for hint in _CONTEXT_HINTS)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _model_info(item: dict[str, Any]) -> ModelInfo:
    # vLLM reports `max_model_len`; others report nothing about the context window. Whether the
    # model was trained for tools is what the upstream's own card says (ours, LM Studio and
    # Ollama list it in `capabilities`, OpenRouter in `supported_parameters`).
    listed = [*(item.get("capabilities") or ()), *(item.get("supported_parameters") or ())]
    return ModelInfo(
        id=str(item["id"]),
        path=None,
        size_bytes=None,
        context_length=_int_or_none(item.get("max_model_len") or item.get("context_length")),
        owned_by=str(item.get("owned_by") or "upstream"),
        structured=NATIVE,
        tool_template="tools" in listed,
    )
