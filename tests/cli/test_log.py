"""`chatbot log` end to end: the CLI in a subprocess against a real server (tiny model) whose
conversations were kept with `store: true`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatbot_cli.cli.log import parse_since
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


def log(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "log", *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def log_json(server: LiveServer, *args: str) -> Any:
    proc = log(server, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[LiveServer]:
    srv = LiveServer(home=tmp_path_factory.mktemp("log-server"), model=tiny_model).start()
    for question in ("How fast is a cheetah?", "Cheetah or leopard?", "Recipe for soup"):
        r = httpx.post(
            srv.url + "/v1/chat/completions",
            headers=srv.headers,
            json={
                "model": "default",
                "messages": [{"role": "user", "content": question}],
                "max_tokens": 4,
                "store": True,
            },
            timeout=60,
        )
        assert r.status_code == 200, r.text
    deadline = time.monotonic() + 10
    while len(log_json(srv, "list")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    yield srv
    srv.kill()


def test_list_show_search_rm(server: LiveServer) -> None:
    listed = log_json(server, "list")
    assert [c["title"] for c in listed] == [
        "Recipe for soup",
        "Cheetah or leopard?",
        "How fast is a cheetah?",
    ]
    assert log_json(server, "list", "-n", "1")[0]["title"] == "Recipe for soup"
    assert log_json(server, "list", "--model", "nothing") == []
    assert len(log_json(server, "list", "--since", "1h")) == 3

    plain = log(server, "list")
    assert plain.returncode == 0 and plain.stdout.count("\n") == 3
    assert "Recipe for soup" in plain.stdout and "\x1b[" not in plain.stdout

    found = log_json(server, "search", "cheetahs")
    assert {c["title"] for c in found} == {"How fast is a cheetah?", "Cheetah or leopard?"}
    assert all("**" in c["snippet"] for c in found)
    text = log(server, "search", "soup")
    assert text.returncode == 0 and "Recipe for soup" in text.stdout and "**" not in text.stdout
    nothing = log(server, "search", "zeppelin")
    assert nothing.returncode == 1 and nothing.stderr == "Nothing found.\n"

    one = listed[0]["id"]
    shown = log_json(server, "show", one)
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant"]
    assert shown["usage"]["completionTokens"] == 4
    plain_show = log(server, "show", one)
    assert plain_show.returncode == 0 and "## user\n\nRecipe for soup" in plain_show.stdout

    assert log_json(server, "rm", one) == {"deleted": one}
    gone = log(server, "show", one)
    assert gone.returncode == 5 and gone.stderr.startswith("Error: Conversation")
    assert len(log_json(server, "list")) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--since", "yesterday-ish"],
        ["list", "-n", "0"],
        ["search", "cheetah", "-n", "101"],
        ["search", "   "],
    ],
)
def test_bad_input_is_one_line_and_exit_2(server: LiveServer, args: list[str]) -> None:
    proc = log(server, *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1


def test_unknown_ids_and_names_exit_5(server: LiveServer) -> None:
    for args in (["show", "conv_000000000000000000000000"], ["rm", "no-such-session"]):
        proc = log(server, *args)
        assert proc.returncode == 5 and proc.stderr.count("\n") == 1


def test_since_forms() -> None:
    assert parse_since(None) is None
    assert parse_since("7d") < parse_since("1h")  # type: ignore[operator]
    assert parse_since("2026-11-30").startswith("2026-11-30T00:00:00")  # type: ignore[union-attr]
