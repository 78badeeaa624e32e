"""The browser page: `/` serves the single-page app and `/ui/...` its files, from the package.

Nothing is built and nothing comes from another origin: the page's JavaScript (ours and the
vendored Markdown renderer and sanitiser, see scripts/update_web_vendor.sh) is read from
`chatbot_cli/web/`. Only these responses carry the page's Content-Security-Policy, so `/docs`
(Swagger) keeps whatever policy it needs.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

# Scripts, styles, images and requests only from this origin; no inline script or style, no
# plugins, no framing; every HTML sink takes only what the sanitiser's policy made.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types dompurify",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Revalidate every time (the ETag makes that a 304), so an upgraded package is seen at once.
    "Cache-Control": "no-cache",
}
_RAW_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class _WithSecurityHeaders:
    """Adds SECURITY_HEADERS to every response of the wrapped ASGI app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in _RAW_HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + _RAW_HEADERS}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def index() -> FileResponse:
    return FileResponse(WEB_ROOT / "index.html", headers=SECURITY_HEADERS)


def install_web(app: FastAPI) -> None:
    """Serve the page at `/` and its files under `/ui/`."""
    app.add_api_route("/", index, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount("/ui", _WithSecurityHeaders(StaticFiles(directory=WEB_ROOT)), name="web")
