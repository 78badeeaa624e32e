"""Several models behind one real server (tiny GGUF models, `chatbot serve` on loopback): listed
by id, loaded on demand once even with requests waiting, the least recently used idle model
evicted, idle models unloaded after model_ttl, and a model that fails to load reported while the
others keep serving. The CLI's `models ps/list/rm` and `chat -m` against it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatbot_cli.models_store import Entry, Store
from tests.live import LiveServer
from tests.tinymodel import write_tiny_model

pytestmark = pytest.mark.timeout(180)


def add_pulled(home: Path, model_id: str, source: Path) -> Path:
    """A model in the server's store as `models pull` leaves it (no network needed)."""
    store = Store(home / "data" / "models")
    target = store.model_dir(model_id) / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    store.add(Entry(model_id, "test", [source.name], target.stat().st_size))
    return target


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("multi")
    # alpha has a long context, so a stream on it can stay busy for seconds.
    alpha = write_tiny_model(root / "alpha.gguf", context_length=32768)
    beta = write_tiny_model(root / "beta.gguf", seed=99)
    broken = write_tiny_model(root / "broken.gguf", seed=7)
    with broken.open("r+b") as fh:  # the header reads fine; the tensor data is cut short
        fh.truncate(broken.stat().st_size - 4096)
    return {"alpha": alpha, "beta": beta, "broken": broken}


def chat(server: LiveServer, model: str, **kw: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    return httpx.post(
        server.url + "/v1/chat/completions",
        json={**body, **kw},
        headers=server.headers,
        timeout=60,
    )


def ps(server: LiveServer) -> dict[str, Any]:
    response = httpx.get(server.url + "/api/ps", headers=server.headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def loaded(server: LiveServer) -> list[str]:
    return sorted(m["id"] for m in ps(server)["data"] if m["state"] == "loaded")


def cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_cli", *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_one_server_serves_several_models_loading_each_on_demand(
    start_server: Callable[..., LiveServer], files: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "srv"
    add_pulled(home, "beta", files["beta"])
    add_pulled(home, "broken", files["broken"])
    server = start_server(
        home=home,
        model=files["alpha"],
        extra_args=["--n-ctx", "32768", "--parallel", "2", "--max-loaded-models", "1"],
    )
    listed = httpx.get(server.url + "/v1/models", headers=server.headers).json()
    assert [m["id"] for m in listed["data"]] == ["alpha", "beta", "broken"]
    report = ps(server)
    assert report["max_loaded_models"] == 1 and report["model_ttl"] == 0
    (row,) = report["data"]
    assert row["id"] == "alpha" and row["default"] and row["state"] == "loaded"
    assert row["slots"] == 2 and row["memory_bytes"] > row["size_bytes"] > 0

    # A model not loaded loads on the first request for it, in place of the idle one.
    response = chat(server, "beta")
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "beta"
    assert loaded(server) == ["beta"]
    assert "unloading model alpha to load beta" in server.log()

    # Requests for a model that cannot load yet (alpha is busy, and only one may be loaded)
    # wait together; the load then happens once and answers them all.
    response = chat(server, "default")  # "default" is --model's alpha
    assert response.status_code == 200 and loaded(server) == ["alpha"]
    loads_before = server.log().count("loaded model beta")
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        json={
            "model": "alpha",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 8000,
            "stream": True,
        },
        headers=server.headers,
        timeout=60,
    ) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("data:")  # alpha is generating
        results: list[int] = []
        threads = [
            threading.Thread(target=lambda: results.append(chat(server, "beta").status_code))
            for _ in range(6)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        assert results == []  # all waiting: alpha is in use
        waiting = next(m for m in ps(server)["data"] if m["id"] == "beta")
        assert waiting["state"] == "loading" and waiting["active_requests"] == 6
    # Closing the stream stops alpha's generation; beta takes its place.
    for thread in threads:
        thread.join(60)
    assert results == [200] * 6
    assert server.log().count("loaded model beta") == loads_before + 1
    assert loaded(server) == ["beta"]

    # A model that fails to load is a clear error; the others keep serving.
    response = chat(server, "broken")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "model_load_failed" and error["param"] == "model"
    assert "'broken' could not be loaded" in error["message"]
    assert str(files["broken"].parent) not in error["message"]
    assert chat(server, "beta").status_code == 200
    assert chat(server, "alpha").status_code == 200

    # The CLI: ps, list with the loaded column, chat -m, and rm refused while loaded.
    out = cli(server, "models", "ps", "--json")
    assert out.returncode == 0, out.stderr
    assert [m["id"] for m in __import__("json").loads(out.stdout)["data"]] == ["alpha"]
    out = cli(server, "models", "ps")
    assert out.returncode == 0 and "alpha" in out.stdout
    out = cli(server, "chat", "-m", "beta", "--max-tokens", "8", "--no-stream", "hello")
    assert out.returncode == 0, out.stderr
    out = cli(server, "models", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in __import__("json").loads(out.stdout)}
    assert rows["beta"]["loaded"] is True and rows["broken"]["loaded"] is False
    out = cli(server, "models", "rm", "beta")
    assert out.returncode == 2
    assert "loaded" in out.stderr and "--force" in out.stderr and len(out.stderr.splitlines()) == 1
    assert Store(home / "data" / "models").get("beta")
    out = cli(server, "models", "rm", "beta", "--force", "--json")
    assert out.returncode == 0, out.stderr
    assert '"removed": "beta"' in out.stdout
    time.sleep(1.2)  # the server re-reads the manifest at most once a second
    listed = httpx.get(server.url + "/v1/models", headers=server.headers).json()
    assert [m["id"] for m in listed["data"]] == ["alpha", "broken"]
    assert chat(server, "beta").status_code == 404
    # Served no more, it leaves memory too (it was idle).
    deadline = time.monotonic() + 10
    while "beta" in loaded(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert loaded(server) == []
    assert "unloading model beta: no longer listed" in server.log()


def test_models_by_id_two_loaded_and_unloaded_when_idle(
    start_server: Callable[..., LiveServer], files: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "srv"
    add_pulled(home, "beta", files["beta"])
    add_pulled(home, "gamma", files["beta"])
    server = start_server(
        home=home,
        model=None,
        # The TTL leaves room for the second load: it starts a worker process (engine/worker.py).
        extra_args=["--model", "beta", "--max-loaded-models", "2", "--model-ttl", "5"],
    )
    listed = httpx.get(server.url + "/v1/models", headers=server.headers).json()
    assert [m["id"] for m in listed["data"]][:2] == ["beta", "gamma"]
    assert chat(server, "default").json()["model"] == "default"
    assert chat(server, "gamma").status_code == 200
    assert loaded(server) == ["beta", "gamma"]  # two fit: nothing was evicted
    row = next(m for m in ps(server)["data"] if m["id"] == "gamma")
    assert row["expires_at"] == pytest.approx(row["last_used_at"] + 5, abs=0.01)
    deadline = time.monotonic() + 20
    while loaded(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert loaded(server) == []
    assert "idle for" in server.log()
    assert chat(server, "gamma").status_code == 200  # loads again on demand
    assert loaded(server) == ["gamma"]


def test_upstream_mode_lists_and_forwards_every_upstream_model(
    start_server: Callable[..., LiveServer], files: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "upstream"
    add_pulled(home, "beta", files["beta"])
    upstream = start_server(home=home, model=files["alpha"])
    front = start_server(
        model=None,
        extra_args=[
            "--engine",
            "openai",
            "--upstream-url",
            upstream.url + "/v1",
            "--upstream-key",
            upstream.api_key,
        ],
    )
    listed = httpx.get(front.url + "/v1/models", headers=front.headers).json()
    assert [m["id"] for m in listed["data"]] == ["alpha", "beta"]
    response = chat(front, "beta")  # the upstream loads it on demand
    assert response.status_code == 200, response.text
    assert loaded(upstream) == ["beta"]
    report = ps(front)
    assert [(m["id"], m["state"]) for m in report["data"]] == [
        ("alpha", "upstream"),
        ("beta", "upstream"),
    ]
    assert chat(front, "nope").status_code == 404
