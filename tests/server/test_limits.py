"""The request-context middleware's access log: one record is one line whatever the client
sends, and each client-chosen field is escaped so it cannot fake the next one."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from chatbot_cli.server.limits import RequestContextMiddleware, log_field

FORGED = "2026-11-30 06:21:30,000 INFO chatbot.access: POST /graphql 200 1.0ms key=alice"


def app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware, max_body_bytes=1024)
    return app


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chatbot.access"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_decoded_path_and_agent_cannot_forge_a_line(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatbot.access")
    forged_path = "/x%0a" + FORGED.replace(" ", "%20") + "%0d%0a%e2%80%a8end"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app()), base_url="http://t"
    ) as client:
        r = await client.get(forged_path, headers={"User-Agent": 'evil\t" key=bob \\'})
    assert r.status_code == 404  # no route needed: unknown paths are logged too
    (line,) = access_lines(caplog)
    assert "\n" not in line and "\r" not in line and "\u2028" not in line and "\t" not in line
    # Exactly the fields the format has: the path is one token, the agent one quoted string.
    method, path, status, _ms, request_id, key, agent = line.split(" ", 6)
    assert (method, status, key) == ("GET", "404", "key=-")
    assert request_id.startswith("request_id=")
    assert path.startswith("/x\\x0a2026-11-30\\x2006:21:30,000\\x20INFO")
    assert path.endswith("\\x0d\\x0a\\u2028end")
    assert agent == 'agent="evil\\x09\\x22 key=bob \\x5c"'


def test_log_field_escapes_only_what_is_ambiguous() -> None:
    assert log_field("/v1/chat/completions") == "/v1/chat/completions"
    assert log_field("") == "-"
    assert log_field("/caf\u00e9") == "/caf\u00e9"  # printable non-ASCII stays readable
    assert log_field("a b") == "a\\x20b"
    assert log_field("a b", quoted=True) == '"a b"'
    assert log_field("\x1b[2J\x00\x7f") == "\\x1b[2J\\x00\\x7f"
    assert log_field("\u200b\U000e0001") == "\\u200b\\U000e0001"
    assert log_field("\\x0a") == "\\x5cx0a"  # an escape-looking input cannot pass as an escape
