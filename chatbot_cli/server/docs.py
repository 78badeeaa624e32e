"""`/docs`: Swagger UI from the package's own vendored copy, so the page works offline.

FastAPI's default page loads Swagger UI's script and stylesheet from a CDN and is blank without
one. The copy under static/swagger-ui/ is the npm package swagger-ui-dist at the version in its
VERSION file (scripts/update_swagger_ui.sh replaces it); docs/design.md says why it is vendored.
ReDoc is not served: it would load from a CDN too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI_DIR = Path(__file__).parent / "static" / "swagger-ui"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"


def install_docs(app: FastAPI) -> None:
    """Serve /docs and its assets; the app must be built with `docs_url=None`."""
    # The version in each asset URL makes browsers fetch new files after an update.
    version = (SWAGGER_UI_DIR / "VERSION").read_text().strip()
    app.mount(ASSETS_PATH, StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        assets = f"{root}{ASSETS_PATH}"
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js?v={version}",
            swagger_css_url=f"{assets}/swagger-ui.css?v={version}",
            swagger_favicon_url=f"{assets}/favicon-32x32.png?v={version}",
            # Swagger UI would otherwise send the spec to its online validator for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )
