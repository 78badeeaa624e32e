"""Exception handlers: every error a client can cause becomes a 4xx OpenAI envelope, never a
traceback; anything unexpected becomes a masked 500 envelope and is logged server-side."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from chatbot_cli.errors import ChatbotError, RetryLater, error_envelope

log = logging.getLogger("chatbot.server")

_STATUS_TYPES = {401: "authentication_error", 404: "invalid_request_error"}
_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def chatbot_error_response(exc: ChatbotError) -> JSONResponse:
    headers = {}
    if isinstance(exc, RetryLater):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(exc.envelope(), status_code=exc.status, headers=headers)


def _param_from_loc(loc: tuple[int | str, ...]) -> str | None:
    # "[key]" is pydantic's mark for a refused dict key: the key itself names the field.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "[key]")]
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out += f"[{p}]" if p.isdigit() else f".{p}"
    return out


def validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    param = _param_from_loc(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        return "We could not parse the JSON body of your request.", None
    msg = str(first.get("msg", "Invalid value"))
    if first.get("type") == "missing":
        if param is None:
            return "The request body is empty: send a JSON object.", None
        msg = "Field required"
    if param:
        return f"Invalid value for '{param}': {msg}", param
    return f"Invalid request body: {msg}", None


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path: Starlette's 405 names only the first route's,
    and /v1/chat/completions has two (create, and list of stored completions)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": ""})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ChatbotError)
    async def _chatbot(_: Request, exc: ChatbotError) -> JSONResponse:
        return chatbot_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = validation_message(exc)
        return JSONResponse(
            error_envelope(message, "invalid_request_error", param, "invalid_request"),
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_ = _STATUS_TYPES.get(exc.status_code, "invalid_request_error")
        if exc.status_code >= 500:
            type_ = "server_error"
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        code = _STATUS_CODES.get(exc.status_code)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return JSONResponse(
            error_envelope(message, type_, None, code),
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(
            error_envelope("The server had an internal error.", "server_error", None, None),
            status_code=500,
        )
