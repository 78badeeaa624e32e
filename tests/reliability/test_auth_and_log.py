"""Keys made with `chatbot keys` (a CLI subprocess on the server's own database) against a real
server: a key works on every /v1 route and /graphql, is refused on the very next request after
`chatbot keys revoke`, and the access log names its owner but never shows a key or a prompt."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import httpx
import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.e2e

CHAT = "/v1/chat/completions"


def keys(server: LiveServer, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "keys", *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def requests_for(server: LiveServer, key: str, prompt: str = "hi") -> list[httpx.Response]:
    """One request on every protected route (chat both ways, GraphQL by POST and GET)."""
    headers = {"Authorization": f"Bearer {key}"}
    chat = {"model": "default", "messages": [{"role": "user", "content": prompt}], "max_tokens": 4}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        models = client.get("/v1/models")
        model_id = models.json()["data"][0]["id"] if models.status_code == 200 else "default"
        return [
            models,
            client.get(f"/v1/models/{model_id}"),
            client.post(CHAT, json=chat),
            client.post(CHAT, json={**chat, "stream": True}),
            client.post("/graphql", json={"query": "{ todos { id } }"}),
            client.get("/graphql", params={"query": "{ todos { id } }"}),
        ]


def test_revoked_key_is_refused_on_every_route(module_server: LiveServer) -> None:
    key = keys(module_server, "create", "revokee")
    assert key.startswith("sk-")
    for response in requests_for(module_server, key):
        assert response.status_code == 200, (response.request.url, response.text)

    keys(module_server, "revoke", "revokee")
    for response in requests_for(module_server, key):
        assert response.status_code == 401, (response.request.url, response.text)
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "authentication_error" and error["code"] == "invalid_api_key"
        assert key not in response.text
    # Other keys are untouched by the revocation.
    assert all(r.status_code == 200 for r in requests_for(module_server, module_server.api_key))


def test_access_log_has_who_and_what_never_key_or_prompt(module_server: LiveServer) -> None:
    key = keys(module_server, "create", "logged")
    marker = f"secret-prompt-{uuid.uuid4().hex}"
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    headers = {"Authorization": f"Bearer {key}", "X-Request-ID": request_id}
    chat = {"model": "default", "messages": [{"role": "user", "content": marker}], "max_tokens": 4}
    ok = httpx.post(module_server.url + CHAT, json=chat, headers=headers, timeout=30)
    assert ok.status_code == 200 and ok.headers["x-request-id"] == request_id
    streamed = httpx.post(
        module_server.url + CHAT, json={**chat, "stream": True}, headers=headers, timeout=30
    )
    assert streamed.status_code == 200
    wrong = f"sk-wrong-{uuid.uuid4().hex}"
    refused = httpx.post(
        module_server.url + CHAT,
        json=chat,
        headers={"Authorization": f"Bearer {wrong}", "X-Request-ID": request_id + "-bad"},
        timeout=30,
    )
    assert refused.status_code == 401

    # The access log is written after the response is sent: wait for the last request's line.
    deadline = time.monotonic() + 5
    while f"request_id={request_id}-bad" not in (log := module_server.log()):
        assert time.monotonic() < deadline, log[-3000:]
        time.sleep(0.05)
    line = re.compile(
        rf"POST {re.escape(CHAT)} 200 \d+(\.\d+)?ms request_id={request_id} key=logged\b"
    )
    assert len(line.findall(log)) == 2, log[-3000:]
    assert re.search(rf"POST {re.escape(CHAT)} 401 \S+ms request_id={request_id}-bad key=-", log)
    for secret in (key, wrong, module_server.api_key, marker):
        assert secret not in log
