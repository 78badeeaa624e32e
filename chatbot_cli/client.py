"""The one HTTP client of the CLI: REST, SSE streaming (httpx-sse) and GraphQL.

Maps transport failures, error envelopes and GraphQL errors to the error tree in `errors.py`
(whose parsers the upstream engine shares), so CLI commands only ever catch `ChatbotError`.
Plain-http requests that are read whole go through `_plainhttp` (the standard library), so
`chatbot todo ...` never imports httpx; HTTPS, proxies and streams use httpx.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from chatbot_cli import _plainhttp
from chatbot_cli.auth import bearer_headers
from chatbot_cli.errors import (
    AuthenticationFailed,
    ChatbotError,
    RetryLater,
    Unreachable,
    from_envelope,
    from_graphql_errors,
)

if TYPE_CHECKING:
    import httpx

_RETRY_STATUSES = {503}
CONNECT_TIMEOUT_S = 5.0


class Response(Protocol):
    """What the client reads of a response: `httpx.Response` or `_plainhttp.PlainResponse`."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...  # read with lower-case names
    def json(self) -> Any: ...


class Client:
    def __init__(
        self,
        url: str,
        api_key: str | None,
        *,
        timeout: float = 600.0,
        max_retries: int = 2,
    ) -> None:
        self.url = url.rstrip("/")
        self.max_retries = max_retries
        self._headers = {**bearer_headers(api_key), "User-Agent": "chatbot-cli"}
        self._timeout = timeout
        self._httpx: httpx.Client | None = None
        self._plain: _plainhttp.PlainTransport | None = None
        # The conversation the server stored the last chat answer in (`x-conversation-id`).
        self.conversation_id: str | None = None
        if _plain_http_ok(self.url):
            self._plain = _plainhttp.PlainTransport(
                self.url, self._headers, timeout=timeout, connect_timeout=CONNECT_TIMEOUT_S
            )

    @property
    def _http(self) -> httpx.Client:
        if self._httpx is None:
            from chatbot_cli._fastimport import skip_httpx_cli

            skip_httpx_cli()
            import httpx

            self._httpx = httpx.Client(
                base_url=self.url,
                headers=self._headers,
                timeout=httpx.Timeout(self._timeout, connect=CONNECT_TIMEOUT_S),
                verify=self._plain is None,  # a TLS context only where TLS or a proxy is used
            )
        return self._httpx

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._httpx is not None:
            self._httpx.close()

    # -- transport helpers -------------------------------------------------------------------

    def _unreachable(self, exc: Exception) -> Unreachable:
        return Unreachable(
            f"Cannot reach the chatbot server at {self.url} ({type(exc).__name__}). "
            "Start it with `chatbot serve`, or point --url / CHATBOT_URL at a running one."
        )

    @staticmethod
    def raise_for_response(response: Response) -> None:
        if response.status_code < 400:
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
            # /graphql answers transport-level 4xx with GraphQL errors, not the OpenAI envelope.
            raise from_graphql_errors(body["errors"], f"HTTP {response.status_code}")
        exc = from_envelope(response.status_code, body, retry_after=_retry_after(response))
        if isinstance(exc, RetryLater) and not _says_when(exc.message):
            # Our server says when in its message; a proxy or another server may say it only
            # in Retry-After, and the CLI's one line must still say it (exit 6 either way).
            wait = _retry_after(response)
            hint = f"Try again in {wait} s." if wait else "Try again later."
            raise type(exc)(
                f"{exc.message.rstrip('.')}. {hint}",
                retry_after=wait or exc.retry_after,
                param=exc.param,
                code=exc.code,
            )
        if isinstance(exc, AuthenticationFailed):
            raise AuthenticationFailed(
                f"{exc.message} The server rejected the API key: check CHATBOT_API_KEY or "
                "`api_key` in the file shown by `chatbot config path`.",
                param=exc.param,
                code=exc.code,
            )
        raise exc

    def _backoff(self, attempt: int, response: Response | None) -> None:
        # Like the official SDK: honour Retry-After when given, else exponential backoff + jitter.
        delay = _retry_after(response) if response is not None else 0
        if not delay:
            import random  # only a retry needs it; most commands never retry

            delay = min(8.0, 0.5 * 2**attempt) * (0.75 + random.random() / 2)
        time.sleep(min(delay, 30))

    def request(self, method: str, path: str, *, json: Any = None) -> Response:
        """One request, read whole; 503 is retried with backoff, any error status raises."""
        for attempt in range(self.max_retries + 1):
            response = self._send(method, path, json)
            if response.status_code in _RETRY_STATUSES and attempt < self.max_retries:
                self._backoff(attempt, response)
                continue
            self.raise_for_response(response)
            return response
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, json: Any) -> Response:
        if self._plain is not None:
            try:
                return self._plain.request(method, path, json=json)
            except _plainhttp.TimedOut as exc:
                raise Unreachable(f"The server at {self.url} did not answer in time.") from exc
            except _plainhttp.TransportError as exc:
                raise self._unreachable(exc) from None
        http = self._http
        import httpx

        try:
            return http.request(method, path, json=json)
        except httpx.ConnectError as exc:
            raise self._unreachable(exc) from None
        except httpx.TimeoutException as exc:
            raise Unreachable(f"The server at {self.url} did not answer in time.") from exc
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    # -- REST ----------------------------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        data = self.request("GET", "/v1/models").json()
        return list(data.get("data", []))

    def running_models(self) -> dict[str, Any]:
        """`GET /api/ps`: the models the server has in memory now."""
        return self.request("GET", "/api/ps").json()  # type: ignore[no-any-return]

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.request("POST", "/v1/chat/completions", json={**body, "stream": False})
        self.conversation_id = response.headers.get("x-conversation-id") or self.conversation_id
        return response.json()  # type: ignore[no-any-return]

    def stream_chat(self, body: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        """Yield each `chat.completion.chunk` dict; ends at `[DONE]`. An error event raises."""
        http = self._http  # first: it trims httpx's import
        import httpx
        from httpx_sse import connect_sse

        payload = {**body, "stream": True}
        for attempt in range(self.max_retries + 1):
            try:
                with connect_sse(http, "POST", "/v1/chat/completions", json=payload) as source:
                    response = source.response
                    if response.status_code in _RETRY_STATUSES and attempt < self.max_retries:
                        response.read()
                        self._backoff(attempt, response)
                        continue
                    if response.status_code >= 400:
                        response.read()
                        self.raise_for_response(response)
                    stored = response.headers.get("x-conversation-id")
                    self.conversation_id = stored or self.conversation_id
                    for event in source.iter_sse():
                        if event.data == "[DONE]":
                            return
                        try:
                            chunk = json.loads(event.data)
                        except ValueError:
                            continue
                        if isinstance(chunk, dict) and "error" in chunk:
                            raise from_envelope(500, chunk)
                        yield chunk
                    raise ChatbotError("The stream ended before the server finished the answer.")
            except httpx.ConnectError as exc:
                raise self._unreachable(exc) from None
            except httpx.TimeoutException as exc:
                raise Unreachable(f"The server at {self.url} did not answer in time.") from exc
            except httpx.TransportError as exc:
                raise ChatbotError(f"The stream was interrupted: {exc}.") from None

    # -- GraphQL -------------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.request(
            "POST", "/graphql", json={"query": query, "variables": variables or {}}
        )
        try:
            body = response.json()
        except ValueError:
            raise ChatbotError("The server sent a response that is not JSON.") from None
        errors = body.get("errors")
        if errors:
            raise from_graphql_errors(errors, "GraphQL error")
        return body.get("data") or {}


def _plain_http_ok(url: str) -> bool:
    """A plain-http server reached without a proxy: no TLS context (loading the CA bundle is a
    large share of a `chatbot todo` command) and no need for httpx to send a whole request.
    With a proxy variable set, httpx decides (it also honours NO_PROXY)."""
    proxied = any(os.environ.get(v) for v in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"))
    return url.startswith("http://") and not proxied


def _says_when(message: str) -> bool:
    lowered = message.lower()
    return "try again" in lowered or "retry" in lowered


def _retry_after(response: Response | None) -> int:
    if response is None:
        return 0
    value = response.headers.get("retry-after", "")
    return int(value) if value.isdigit() else 0
