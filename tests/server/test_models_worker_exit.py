"""A model's worker process killed under a real server (engine/worker.py, engine/manager.py):
the requests it was serving end with a clear 503 `model_stopped` (a JSON envelope, or the SSE
error event mid-stream), the model is unloaded at once, the other model keeps serving, and the
next request for it loads it again in a fresh process."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.live import LiveServer, model_workers_of
from tests.server.test_models_serving import add_pulled, chat, cli, loaded, ps
from tests.tinymodel import write_tiny_model

pytestmark = pytest.mark.timeout(180)

STOPPED = "The model 'long' stopped (its worker process was killed by SIGKILL)"


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def busy_slots(server: LiveServer, model: str) -> int:
    rows = [m for m in ps(server)["data"] if m["id"] == model]
    return int(rows[0]["busy_slots"]) if rows else 0


def test_a_killed_worker_ends_its_requests_clearly_and_its_model_loads_again(
    start_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    home = tmp_path / "srv"
    # "long" has a long context, so its generations stay busy until the kill.
    add_pulled(home, "long", write_tiny_model(tmp_path / "long.gguf", context_length=32768))
    server = start_server(
        home=home,
        model=write_tiny_model(tmp_path / "short.gguf", seed=99),
        extra_args=["--n-ctx", "32768", "--parallel", "2", "--max-loaded-models", "2"],
    )
    assert chat(server, "long").status_code == 200  # loads beside "short": in a worker
    assert loaded(server) == ["long", "short"]
    (pid,) = model_workers_of(server.proc.pid)  # type: ignore[union-attr]

    answers: list[httpx.Response] = []
    waiting = threading.Thread(
        target=lambda: answers.append(chat(server, "long", max_tokens=8000, temperature=1.0))
    )
    body = {
        "model": "long",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 8000,
        "temperature": 1.0,
        "stream": True,
    }
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        json=body,
        headers=server.headers,
        timeout=60,
    ) as stream:
        assert stream.status_code == 200
        lines = (line for line in stream.iter_lines() if line)
        assert next(lines).startswith("data:")
        waiting.start()
        wait_for(lambda: busy_slots(server, "long") == 2)  # both generate on the worker
        assert chat(server, "short").status_code == 200  # the other model serves meanwhile
        os.kill(pid, signal.SIGKILL)
        rest = list(lines)
    # Mid-stream: the SSE error event, then [DONE], as for every error after the first byte.
    assert rest[-1] == "data:[DONE]"
    error = json.loads(rest[-2].removeprefix("data:"))["error"]
    assert error["code"] == "model_stopped" and error["type"] == "server_error"
    assert error["message"].startswith(STOPPED)
    # A request waiting for its whole answer: a 503 the client may retry, not a 500.
    waiting.join(60)
    (answer,) = answers
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    error = answer.json()["error"]
    assert error["code"] == "model_stopped" and error["message"].startswith(STOPPED)
    assert "Traceback" not in answer.text and str(home) not in error["message"]

    # Unloaded at once: /api/ps, `models ps` and `models list` no longer show it loaded, and
    # the server is healthy.
    assert loaded(server) == ["short"]
    out = cli(server, "models", "ps", "--json")
    assert out.returncode == 0, out.stderr
    assert [m["id"] for m in json.loads(out.stdout)["data"]] == ["short"]
    out = cli(server, "models", "list", "--json")
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert rows["long"]["loaded"] is False  # (None would mean no server answered)
    health = httpx.get(server.url + "/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert server.log().count("model long stopped") == 1
    assert (
        "model long stopped: its worker process was killed by SIGKILL; unloaded, the next "
        "request loads it again" in server.log()
    )

    # The next request loads it again, in a fresh process, and succeeds.
    response = chat(server, "long")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]
    assert loaded(server) == ["long", "short"]
    (fresh,) = model_workers_of(server.proc.pid)  # type: ignore[union-attr]
    assert fresh != pid
    assert server.log().count("loaded model long") == 2
    assert chat(server, "short").status_code == 200
