"""Per-key limits and accounting against a real server (server/quota.py): 429 with the OpenAI
envelope, Retry-After and the x-ratelimit headers; the concurrency cap; the CLI's exit 6; the
openai SDK's own retry; every kind of completion counted; GraphQL `usage`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer
from tests.tinymodel import write_tiny_model

pytestmark = pytest.mark.e2e

LONG = 8000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model = write_tiny_model(tmp_path_factory.mktemp("m") / "long.gguf", context_length=16384)
    args = ["--parallel", "2", "--n-ctx", "32768"]
    live = LiveServer(home=tmp_path_factory.mktemp("quota"), model=model, extra_args=args)
    yield live.start()
    live.kill()


def cli(server: LiveServer, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(server.env)
    if key is not None:
        env["CHATBOT_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "chatbot_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def new_key(server: LiveServer, name: str, *limits: str) -> str:
    made = cli(server, "keys", "create", name)
    assert made.returncode == 0, made.stderr
    if limits:
        limited = cli(server, "keys", "limit", name, *limits)
        assert limited.returncode == 0, limited.stderr
    return made.stdout.strip()


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "long", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, **kw}


def post(server: LiveServer, key: str, **kw: Any) -> httpx.Response:
    return httpx.post(
        server.url + "/v1/chat/completions",
        json=body(**kw),
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def usage(server: LiveServer, name: str, wait_for: int, within: float = 5.0) -> dict[str, Any]:
    """The key's row of `chatbot keys usage NAME --json` once it counts `wait_for` requests
    (the server writes usage in batches)."""
    deadline = time.monotonic() + within
    while True:
        out = cli(server, "keys", "usage", name, "--json")
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)
        if (rows and rows[0]["requests"] >= wait_for) or time.monotonic() > deadline:
            return rows[0] if rows else {"requests": 0}
        time.sleep(0.3)


def test_over_the_rpm_limit_is_429_with_retry_after_and_headers(server: LiveServer) -> None:
    key = new_key(server, "rpm2", "--rpm", "2")
    seen = [post(server, key) for _ in range(2)]
    assert [r.status_code for r in seen] == [200, 200]
    assert seen[0].headers["x-ratelimit-limit-requests"] == "2"
    assert [r.headers["x-ratelimit-remaining-requests"] for r in seen] == ["1", "0"]
    assert seen[1].headers["x-ratelimit-reset-requests"].endswith("s")
    assert "x-ratelimit-limit-tokens" not in seen[0].headers  # no token limit set

    refused = post(server, key, stream=True)
    assert refused.status_code == 429
    assert refused.json()["error"] == {
        "message": refused.json()["error"]["message"],
        "type": "rate_limit_exceeded",
        "param": None,
        "code": "requests_per_minute",
    }
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    # Every /v1 response of a limited key carries them; the server's own key has no limits.
    models = httpx.get(server.url + "/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert models.headers["x-ratelimit-limit-requests"] == "2"
    assert "x-ratelimit-limit-requests" not in post(server, server.api_key).headers

    # The stored completions routes are /v1 responses too.
    stored = httpx.get(
        server.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}
    )
    assert stored.status_code == 200 and stored.headers["x-ratelimit-limit-requests"] == "2"

    chat = cli(server, "chat", "-m", "long", "hello", key=key)
    assert chat.returncode == 6 and chat.stdout == ""
    line = chat.stderr.strip()
    assert (
        len(line.splitlines()) == 1 and "Try again in" in line and "2 requests per minute" in line
    )
    todo = cli(server, "todo", "list", key=key)
    assert todo.returncode == 0  # limits are on completions, not on todos

    # The refused requests are not usage; the two served are.
    assert usage(server, "rpm2", 2)["requests"] == 2


def test_token_limits_and_their_headers(server: LiveServer) -> None:
    key = new_key(server, "tpm", "--tpm", "20", "--tokens-per-day", "1000")
    first = post(server, key)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-tokens"] == "20"
    assert first.headers["x-ratelimit-remaining-tokens"] == "20"
    spent = first.json()["usage"]["total_tokens"]
    assert spent > 20  # the prompt alone is longer
    deadline = time.monotonic() + 5
    while (refused := post(server, key)).status_code == 200:
        assert time.monotonic() < deadline, "tokens are charged within the flush interval"
        time.sleep(0.2)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "tokens_per_minute"
    assert refused.headers["x-ratelimit-remaining-tokens"] == "0"


def test_an_rpm_refusal_keeps_the_token_headers(server: LiveServer) -> None:
    key = new_key(server, "both", "--rpm", "1", "--tpm", "100000")
    assert post(server, key).status_code == 200
    refused = post(server, key)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "requests_per_minute"
    models = httpx.get(server.url + "/v1/models", headers={"Authorization": f"Bearer {key}"})
    for response in (refused, models):
        assert response.headers["x-ratelimit-limit-requests"] == "1"
        assert response.headers["x-ratelimit-limit-tokens"] == "100000"
        assert int(response.headers["x-ratelimit-remaining-tokens"]) > 0


def test_a_limited_key_has_headers_before_its_first_completion(server: LiveServer) -> None:
    """As after a restart, or on a replica the key's completions never reached."""
    key = new_key(server, "fresh", "--rpm", "5", "--tokens-per-day", "900")
    for _ in range(2):  # the first is computed (counting nothing), the second cached
        models = httpx.get(server.url + "/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert models.status_code == 200
        assert models.headers["x-ratelimit-limit-requests"] == "5"
        assert models.headers["x-ratelimit-remaining-requests"] == "5"
        assert models.headers["x-ratelimit-remaining-tokens"] == "900"
    assert post(server, key).headers["x-ratelimit-remaining-requests"] == "4"


def test_limits_change_without_restart_and_clear(server: LiveServer) -> None:
    key = new_key(server, "later")
    assert "x-ratelimit-limit-requests" not in post(server, key).headers
    assert cli(server, "keys", "limit", "later", "--rpm", "1").returncode == 0
    deadline = time.monotonic() + 15  # the server reads limits again within seconds
    while post(server, key).status_code != 429:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert cli(server, "keys", "limit", "later", "--clear").returncode == 0
    deadline = time.monotonic() + 15
    while post(server, key).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.5)


def _hold_stream(
    server: LiveServer, key: str, started: threading.Event, stop: threading.Event
) -> None:
    with (
        httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client,
        client.stream(
            "POST", server.url + "/v1/chat/completions", json=body(stream=True, max_tokens=LONG)
        ) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content":"' in line:
                started.set()
            if stop.is_set() or line == "data: [DONE]":
                break
    started.set()


def test_concurrent_caps_a_keys_share_and_the_sdk_retries(server: LiveServer) -> None:
    import openai

    key = new_key(server, "one-at-a-time", "--concurrent", "1")
    bad = post(server, key, n=2)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "n"
    for _attempt in range(5):  # the tiny model may end a stream early: start another
        started, stop = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_stream, args=(server, key, started, stop))
        holder.start()
        try:
            assert started.wait(30)
            refused = post(server, key)
            other = post(server, server.api_key)  # another key still gets the free slot
        finally:
            stop.set()
            holder.join(30)
        if refused.status_code == 429:
            break
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "concurrent_requests"
    assert refused.headers["retry-after"] == "1"
    assert other.status_code == 200

    # The SDK retries a 429 after Retry-After: the holder ends meanwhile, the retry is served.
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=4)
    for _attempt in range(5):
        started, stop = threading.Event(), threading.Event()
        holder = threading.Thread(target=_hold_stream, args=(server, key, started, stop))
        holder.start()
        assert started.wait(30)
        threading.Timer(0.3, stop.set).start()
        raw = client.chat.completions.with_raw_response.create(
            model="long", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
        holder.join(30)
        if raw.retries_taken:
            break
    assert raw.retries_taken >= 1 and raw.http_response.status_code == 200


def test_every_completion_is_counted(server: LiveServer, tmp_path: Path) -> None:
    key = new_key(server, "counted")
    assert post(server, key).status_code == 200
    assert post(server, key, stream=True).status_code == 200
    assert post(server, key, n=2).status_code == 200
    # Cut: the client goes away mid-stream.
    with (
        httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as client,
        client.stream(
            "POST", server.url + "/v1/chat/completions", json=body(stream=True, max_tokens=LONG)
        ) as response,
    ):
        next(response.iter_lines())
    # Refused before generation (bad input) is not a completion.
    assert post(server, key, max_tokens=-1).status_code == 400
    row = usage(server, "counted", 4)
    assert row["requests"] == 4
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] >= 4 + 4 + 8

    by_model = json.loads(cli(server, "keys", "usage", "counted", "--by", "model", "--json").stdout)
    assert [(r["key"], r["model"]) for r in by_model] == [("counted", "long")]
    text = cli(server, "keys", "usage", "--by", "day", "--since", "24h")
    assert text.returncode == 0 and "counted\t" in text.stdout


def test_usage_of_the_default_alias_is_the_served_models(server: LiveServer) -> None:
    key = new_key(server, "alias")
    assert post(server, key, model="default").status_code == 200
    usage(server, "alias", 1)
    by_model = json.loads(cli(server, "keys", "usage", "alias", "--by", "model", "--json").stdout)
    assert [(r["key"], r["model"]) for r in by_model] == [("alias", "long")]


def _gql(server: LiveServer, key: str, query: str) -> dict[str, Any]:
    response = httpx.post(
        server.url + "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_graphql_usage_is_the_callers_own_and_default_sees_all(server: LiveServer) -> None:
    ann, ben = new_key(server, "ann"), new_key(server, "ben")
    assert post(server, ann).status_code == 200
    assert post(server, ben).status_code == 200
    usage(server, "ben", 1)
    query = '{ usage(since: "1d", groupBy: MODEL) { key model requests totalTokens } }'
    own = _gql(server, ann, query)["data"]["usage"]
    assert [(r["key"], r["model"], r["requests"]) for r in own] == [("ann", "long", 1)]
    everyone = {r["key"] for r in _gql(server, server.api_key, query)["data"]["usage"]}
    assert {"ann", "ben"} <= everyone
    other = _gql(server, ann, '{ usage(key: "ben") { requests } }')
    assert other["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    bad = _gql(server, ann, '{ usage(since: "soon") { requests } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    ben_only = _gql(server, server.api_key, '{ usage(key: "ben", groupBy: DAY) { key period } }')
    assert [r["key"] for r in ben_only["data"]["usage"]] == ["ben"]
