"""The one error tree shared by the server and the CLI, and the parsers of the error shapes that
come back over the wire.

Our exception hierarchy (HTTP status, exit code):

* ChatbotError                     500, 1   every error a user can see
  + InvalidRequest                 400      the request cannot be served as sent
    - ContextLengthExceeded        400      the messages do not fit the model's context
    - RequestRejected              4xx      another server's 4xx, its status relayed as is
  + AuthenticationFailed           401, 4
  + NotFound                       404, 5
    - ModelNotFound                404, 5
  + PayloadTooLarge                413
  + RetryLater                     500, 6   the same request may work after `retry_after` seconds
    - RateLimitExceeded            429, 6   a key's limit
    - Overloaded                   503, 6   busy
      - DatabaseUnavailable        503, 6
    - ModelStopped                 503, 6   a loaded model's process died; the next request reloads
  + EngineFailure                  500
    - ModelLoadFailed              500      a served model's file could not be loaded
  + UpstreamFailure                502      the upstream OpenAI-compatible server failed
    - UpstreamTimeout              504
  + Unreachable                    503, 3   the CLI cannot reach the server at all
  + ConfigError                    400, 2   bad configuration or a refused option
  + ConversationLogError           500, 2   `chat -c` finds no conversation to continue
  + GraphQLError                   400      an error /graphql reported; `code` from extensions
    - GraphQLNotFound              400, 5
    - GraphQLBadInput              400, 2   BAD_USER_INPUT, QUERY_TOO_LARGE

`status`, `type`, `code` and `exit_code` are fixed by the class; the constructor takes what varies
(the message, `param`, a `code` relayed from another server, `retry_after`, a relayed status).
An error is never changed after construction, so `str(exc)` and `exc.message` always agree: to say
more, raise a new one. The server maps each class to its status and the OpenAI envelope; the CLI
to one line on stderr and the exit code. Nothing here imports anything of ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _rebuild(cls: type[ChatbotError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle (and copy) a frozen error: set its state before it is frozen again."""
    exc = cls.__new__(cls, *args)
    Exception.__init__(exc, *args)
    for name, value in state.items():
        object.__setattr__(exc, name, value)
    return exc


class ChatbotError(Exception):
    """Base of every error a user can see. `message` is shown as is: keep it one clear line."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None
    exit_code: int = 1

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self._frozen = True

    def __setattr__(self, name: str, value: Any) -> None:
        # Python itself sets the dunders (__traceback__, __cause__, __notes__): those stay free.
        if self.__dict__.get("_frozen") and not name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} is frozen: raise a new error instead")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if self.__dict__.get("_frozen") and not name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} is frozen: raise a new error instead")
        super().__delattr__(name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.message, self.type, self.param, self.code)


class InvalidRequest(ChatbotError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"
    exit_code = 2  # the caller's input was refused: bad usage, in the CLI's table


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class RequestRejected(InvalidRequest):
    """Another server refused the request with a 4xx this tree has no class for (405, 409, 422,
    ...): relayed with that status rather than turned into a 400."""

    def __init__(
        self, message: str, *, status: int, param: str | None = None, code: str | None = None
    ) -> None:
        if not 400 <= status < 500:
            raise ValueError(f"RequestRejected needs a 4xx status, not {status}")
        self.status = status
        super().__init__(message, param=param, code=code)


class AuthenticationFailed(ChatbotError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"
    exit_code = 4


class NotFound(ChatbotError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"
    exit_code = 5


class ModelNotFound(NotFound):
    code = "model_not_found"


class PayloadTooLarge(ChatbotError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RetryLater(ChatbotError):
    """An error that says when the same request may work: the server sends `retry_after` as
    the Retry-After header, the client reads it back (`from_envelope`)."""

    exit_code = 6  # the same request works later

    def __init__(
        self,
        message: str,
        *,
        retry_after: int = 1,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, param=param, code=code)


class RateLimitExceeded(RetryLater):
    """A key went over one of its limits (`chatbot keys limit`). `code` names the limit:
    requests_per_minute, tokens_per_minute, tokens_per_day or concurrent_requests."""

    status = 429
    type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"


class Overloaded(RetryLater):
    status = 503
    type = "server_error"
    code = "server_overloaded"


class DatabaseUnavailable(Overloaded):
    """The database cannot be reached (restarting, network, or every pooled connection busy):
    a 503 the client may retry, never a 500."""

    code = "database_unavailable"


class ModelStopped(RetryLater):
    """A loaded model stopped on its own (its worker process was killed or crashed) while this
    request used it: the model is unloaded, and the same request loads it again."""

    status = 503
    type = "server_error"
    code = "model_stopped"


class EngineFailure(ChatbotError):
    status = 500
    type = "server_error"
    code = "engine_error"


class ModelLoadFailed(EngineFailure):
    """A model the server lists could not be loaded (a damaged file, too little memory): the
    other models keep serving, and the next request for this one tries again."""

    code = "model_load_failed"


class UpstreamFailure(ChatbotError):
    status = 502
    type = "server_error"
    code = "upstream_error"


class UpstreamTimeout(UpstreamFailure):
    status = 504
    code = "upstream_timeout"


class Unreachable(ChatbotError):
    """The CLI could not connect to the server at all."""

    status = 503
    code = "unreachable"
    exit_code = 3


class ConfigError(ChatbotError):
    """Bad configuration: a value that cannot be used, or a refused combination of options."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_config"
    exit_code = 2


class ConversationLogError(ChatbotError):
    """`chat --continue` finds no conversation to continue."""

    exit_code = 2


class GraphQLError(ChatbotError):
    """An error the server's /graphql reported; `code` is its `extensions.code`, `item` the index
    of the refused item of an import (`extensions.item`)."""

    status = 400
    type = "invalid_request_error"

    def __init__(self, message: str, *, code: str | None = None, item: int | None = None) -> None:
        self.item = item
        super().__init__(message, code=code)


class GraphQLNotFound(GraphQLError):
    code = "NOT_FOUND"
    exit_code = 5


class GraphQLBadInput(GraphQLError):
    """BAD_USER_INPUT or QUERY_TOO_LARGE: bad input, exit 2 as the exit-code table says."""

    code = "BAD_USER_INPUT"
    exit_code = 2


# --- The error shapes on the wire -----------------------------------------------------------


def error_envelope(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


@dataclass(frozen=True, slots=True)
class ErrorFields:
    """What an error body says; empty or None where it says nothing usable."""

    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None


def parse_envelope(body: Any) -> ErrorFields:
    """The fields of an OpenAI envelope, of Ollama's `{"error": "..."}` or of FastAPI's
    `{"detail": "..."}`; non-string values (vLLM's numeric code) become None."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, str):
        err = {"message": err}
    elif not isinstance(err, dict):
        err = {"message": body.get("detail") if isinstance(body, dict) else None}
    message, type_, code, param = (
        value if isinstance(value, str) else None
        for value in (err.get(k) for k in ("message", "type", "code", "param"))
    )
    return ErrorFields(message or "", type_, code, param)


_BY_CODE: dict[str, type[ChatbotError]] = {
    cls.code: cls
    for cls in (ContextLengthExceeded, ModelNotFound, DatabaseUnavailable, ModelStopped)
    if cls.code
}

_BY_STATUS: dict[int, type[ChatbotError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    404: NotFound,
    413: PayloadTooLarge,
    429: RateLimitExceeded,
    502: UpstreamFailure,
    503: Overloaded,
    504: UpstreamTimeout,
}


def from_envelope(status: int, body: Any, *, retry_after: int = 1) -> ChatbotError:
    """Rebuild an error from an HTTP status and an error body (used by the client); a 503's
    `retry_after` comes from the response's header."""
    fields = parse_envelope(body)
    message = fields.message or f"HTTP {status}"
    cls = (_BY_CODE.get(fields.code) if fields.code else None) or _BY_STATUS.get(status)
    if cls is None and 400 <= status < 500:
        return RequestRejected(message, status=status, param=fields.param, code=fields.code)
    if cls is not None and issubclass(cls, RetryLater):
        return cls(message, retry_after=retry_after, param=fields.param, code=fields.code)
    return (cls or ChatbotError)(message, param=fields.param, code=fields.code)


_GRAPHQL_BY_CODE: dict[str, type[GraphQLError]] = {
    "NOT_FOUND": GraphQLNotFound,
    "BAD_USER_INPUT": GraphQLBadInput,
    "QUERY_TOO_LARGE": GraphQLBadInput,
}


def from_graphql_errors(errors: Any, default: str) -> GraphQLError:
    """The first of a GraphQL response's `errors`, with its `extensions.code`."""
    first = errors[0] if isinstance(errors, list) and errors else None
    first = first if isinstance(first, dict) else {}
    extensions = first.get("extensions")
    extensions = extensions if isinstance(extensions, dict) else {}
    code, item = extensions.get("code"), extensions.get("item")
    code = code if isinstance(code, str) else None
    item = item if isinstance(item, int) and not isinstance(item, bool) else None
    message = str(first.get("message") or default)
    cls = _GRAPHQL_BY_CODE.get(code or "", GraphQLError)
    return cls(message, code=code, item=item)
