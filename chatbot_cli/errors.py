"""The one error tree shared by the server and the CLI.

The server maps each class to an HTTP status and the OpenAI error envelope; the CLI maps each to
one line on stderr and an exit code. Nothing here imports anything of ours.
"""

from __future__ import annotations

from typing import Any


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

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.message, self.type, self.param, self.code)


class InvalidRequest(ChatbotError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


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


class Overloaded(ChatbotError):
    status = 503
    type = "server_error"
    code = "server_overloaded"
    exit_code = 6

    def __init__(self, message: str, *, retry_after: int = 1, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class DatabaseUnavailable(Overloaded):
    """The database cannot be reached (restarting, network, or every pooled connection busy):
    a 503 the client may retry, never a 500."""

    code = "database_unavailable"


class EngineFailure(ChatbotError):
    status = 500
    type = "server_error"
    code = "engine_error"


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


def error_envelope(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


_BY_STATUS: dict[int, type[ChatbotError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    404: NotFound,
    413: PayloadTooLarge,
    502: UpstreamFailure,
    503: Overloaded,
    504: UpstreamTimeout,
}


def from_envelope(status: int, body: Any) -> ChatbotError:
    """Rebuild an error from an HTTP status and an OpenAI envelope (used by the client)."""
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        err = {"message": f"HTTP {status}"}
    message = str(err.get("message") or f"HTTP {status}")
    code = err.get("code")
    cls: type[ChatbotError]
    if code == "context_length_exceeded":
        cls = ContextLengthExceeded
    elif code == "model_not_found":
        cls = ModelNotFound
    else:
        cls = _BY_STATUS.get(status, InvalidRequest if 400 <= status < 500 else ChatbotError)
    exc = cls(message, param=err.get("param"), code=code if isinstance(code, str) else None)
    exc.status = status
    return exc
