"""server/web.py: the page and its files are served from the package with the page's security
headers, and nothing else changes (Swagger keeps its own)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chatbot_cli.config import load_settings
from chatbot_cli.server.app import create_app
from chatbot_cli.server.web import CONTENT_SECURITY_POLICY, SECURITY_HEADERS, WEB_ROOT

ROOT = Path(__file__).resolve().parent.parent.parent
FIRST_LOAD_BUDGET = 300 * 1024


@pytest.fixture
def client(migrated_database: Path) -> Iterator[TestClient]:
    """The app as `chatbot serve --engine none` builds it, lifespan run."""
    with TestClient(create_app(load_settings(engine="none"))) as test_client:
        yield test_client


def referenced(client: TestClient) -> list[str]:
    """Every same-origin file the page loads: index.html's src/href and the modules' imports."""
    html = client.get("/").text
    todo = re.findall(r'(?:src|href)="(/ui/[^"]+)"', html)
    seen: list[str] = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.append(path)
        if path.endswith(".js"):
            base = path.rsplit("/", 1)[0]
            for spec in re.findall(
                r'^import .*? from "(\.{1,2}/[^"]+)";', client.get(path).text, re.M
            ):
                parts = (base + "/" + spec).split("/")
                out: list[str] = []
                for part in parts:
                    if part == "..":
                        out.pop()
                    elif part != ".":
                        out.append(part)
                todo.append("/".join(out))
    return seen


def test_index_has_the_strict_policy(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src", "img-src"):
        assert directives[name] == "'self'", name
    assert "unsafe" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert client.head("/").status_code == 200


def test_every_file_the_page_loads_is_served_with_the_headers(client: TestClient) -> None:
    paths = referenced(client)
    assert {"/ui/js/main.js", "/ui/js/markdown.js", "/ui/vendor/marked.esm.js"} <= set(paths)
    for path in paths:
        r = client.get(path)
        assert r.status_code == 200, path
        for name, value in SECURITY_HEADERS.items():
            assert r.headers[name] == value, (path, name)
        if path.endswith(".js"):
            assert "javascript" in r.headers["content-type"], path


def test_first_load_fits_the_budget(client: TestClient) -> None:
    total = len(client.get("/").content) + sum(
        len(client.get(p).content) for p in referenced(client)
    )
    assert total <= FIRST_LOAD_BUDGET, total


def test_page_names_no_other_origin() -> None:
    ours = [p for p in WEB_ROOT.rglob("*") if p.is_file() and "vendor" not in p.parts]
    for path in ours:
        text = path.read_text()
        assert not re.search(r"(?:src|href)=\"(?!/ui/)", text), path
        text = text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a fetch
        assert "http://" not in text and "https://" not in text, path
    html = (WEB_ROOT / "index.html").read_text()
    assert "<script>" not in html and " style=" not in html and "<style" not in html


def test_unknown_files_and_escapes_are_404(client: TestClient) -> None:
    assert client.get("/ui/nope.js").status_code == 404
    assert client.get("/ui/../server/web.py").status_code == 404
    assert client.get("/ui/%2e%2e/server/web.py").status_code == 404


def test_docs_keep_their_own_policy(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    assert r.headers.get("content-security-policy") != CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'; require-trusted-types-for" not in r.headers.get(
        "content-security-policy", ""
    )
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_vendored_versions_match_the_update_script() -> None:
    script = (ROOT / "scripts" / "update_web_vendor.sh").read_text()
    pins = dict(re.findall(r"^(MARKED|DOMPURIFY)=\$\{\d:-([\d.]+)\}$", script, re.M))
    versions = dict(
        line.split() for line in (WEB_ROOT / "vendor" / "VERSIONS").read_text().splitlines()
    )
    assert versions == {"marked": pins["MARKED"], "dompurify": pins["DOMPURIFY"]}
    marked = (WEB_ROOT / "vendor" / "marked.esm.js").read_text()
    assert f"marked v{versions['marked']}" in marked
    purify = (WEB_ROOT / "vendor" / "purify.min.js").read_text()
    assert f"DOMPurify {versions['dompurify']}" in purify
    for licence in ("marked.LICENSE", "dompurify.LICENSE", "dompurify.LICENSE-MPL"):
        assert (WEB_ROOT / "vendor" / licence).stat().st_size > 1000, licence


def test_package_data_ships_every_page_file() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["chatbot_cli"]
    package = WEB_ROOT.parent
    for path in WEB_ROOT.rglob("*"):
        if path.is_file():
            rel = path.relative_to(package).as_posix()
            assert any(fnmatch(rel, p) for p in patterns), rel
