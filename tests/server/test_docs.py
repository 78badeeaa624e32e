"""/docs works offline: the page names only assets the server itself serves (a vendored, pinned
Swagger UI), and each of them is served."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chatbot_cli.config import load_settings
from chatbot_cli.server.app import create_app

VENDORED = Path(__file__).parents[2] / "chatbot_cli" / "server" / "static" / "swagger-ui"


@pytest.fixture
def client() -> Iterator[TestClient]:
    # No lifespan: /docs needs neither the database nor the engine.
    yield TestClient(create_app(load_settings(engine="none", api_key="sk-docs-test-key")))


def references(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)


def test_docs_page_names_only_local_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    refs = references(page.text)
    assert any(r.split("?")[0].endswith("swagger-ui-bundle.js") for r in refs), refs
    assert any(r.split("?")[0].endswith("swagger-ui.css") for r in refs), refs
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref  # same origin only
    assert "://" not in page.text  # no absolute URL anywhere (scripts, favicon, validator)
    assert '"validatorUrl": null' in page.text  # Swagger UI would call its online validator

    for ref in refs:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.content, ref
    spec = client.get("/openapi.json")
    assert spec.status_code == 200 and "/v1/chat/completions" in spec.json()["paths"]


def test_assets_are_the_vendored_pinned_files(client: TestClient) -> None:
    version = (VENDORED / "VERSION").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    for name, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
        response = client.get(f"/docs/assets/{name}")
        assert response.status_code == 200
        assert kind in response.headers["content-type"]
        assert response.content == (VENDORED / name).read_bytes()
    # Apache-2.0: the licence and notice travel with the copy.
    assert "Apache License" in (VENDORED / "LICENSE").read_text()
    assert (VENDORED / "NOTICE").read_text().strip()
    # ReDoc would load from a CDN too: it is not served.
    assert client.get("/redoc").status_code == 404
