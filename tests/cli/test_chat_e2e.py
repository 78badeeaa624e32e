"""`chatbot chat` end to end: the CLI in a subprocess against a real server with the tiny model."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer, free_port

pytestmark = pytest.mark.e2e

SAMPLING = ["--temperature", "0", "--seed", "7", "--max-tokens", "24"]


def run_chat(
    server_env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "chat", *args],
        env=server_env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[LiveServer]:
    """One server for the tests that do not break it (starting one costs seconds)."""
    srv = LiveServer(home=tmp_path_factory.mktemp("chat-server"), model=tiny_model).start()
    yield srv
    srv.kill()


@pytest.fixture
def env(server: LiveServer, tmp_path: Path) -> dict[str, str]:
    """CLI environment for `server` with a key of this test's own: its conversations alone."""
    made = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "keys", "create", f"t{time.monotonic_ns()}",
         "--json"],
        env=server.env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    key = json.loads(made.stdout)["key"]
    return {**server.env, "CHATBOT_DATA_DIR": str(tmp_path / "cli-data"), "CHATBOT_API_KEY": key}


def log_of(env: dict[str, str]) -> dict[str, Any]:
    """The latest conversation the server kept (stored after the answer: waited for)."""
    deadline = time.monotonic() + 10
    while True:
        proc = subprocess.run(
            [sys.executable, "-m", "chatbot_cli", "log", "list", "-n", "1", "--json"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        latest = json.loads(proc.stdout)
        if latest or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "log", "show", latest[0]["id"], "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def json_chat(env: dict[str, str], *args: str, stdin: str | None = None) -> dict[str, Any]:
    proc = run_chat(env, "--json", *args, stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_piped_output_is_the_streamed_content(server: LiveServer, env: dict[str, str]) -> None:
    proc = run_chat(env, "Say hello", *SAMPLING)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "\x1b[" not in proc.stdout  # not a terminal: no ANSI codes

    # The same request streamed directly: the CLI printed exactly the concatenated deltas.
    from httpx_sse import connect_sse

    body = {
        "model": "default",
        "messages": [{"role": "user", "content": "Say hello"}],
        "temperature": 0,
        "seed": 7,
        "max_tokens": 24,
        "stream": True,
    }
    parts: list[str] = []
    with (
        httpx.Client(base_url=server.url, headers=server.headers) as http,
        connect_sse(http, "POST", "/v1/chat/completions", json=body) as source,
    ):
        for event in source.iter_sse():
            if event.data == "[DONE]":
                break
            for choice in json.loads(event.data)["choices"]:
                parts.append(choice["delta"].get("content") or "")
    streamed = "".join(parts)
    assert streamed
    assert proc.stdout == streamed + ("" if streamed.endswith("\n") else "\n")

    # And a non-stream request with the same sampling says the same.
    non_stream = run_chat(env, "Say hello", "--no-stream", *SAMPLING)
    assert non_stream.returncode == 0, non_stream.stderr
    assert non_stream.stdout == proc.stdout


def test_json_prints_the_chat_completion(env: dict[str, str]) -> None:
    data = json_chat(env, "Say hello", *SAMPLING)
    assert data["object"] == "chat.completion"
    assert isinstance(data["id"], str) and isinstance(data["created"], int)
    choice = data["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    piped = run_chat(env, "Say hello", *SAMPLING)
    assert piped.stdout.rstrip("\n") == choice["message"]["content"].rstrip("\n")


def test_usage_goes_to_stderr(env: dict[str, str]) -> None:
    proc = run_chat(env, "Say hello", "--usage", *SAMPLING)
    assert proc.returncode == 0, proc.stderr
    match = re.fullmatch(
        r"usage: prompt_tokens=(\d+) completion_tokens=(\d+) total_tokens=(\d+)\n", proc.stderr
    )
    assert match, proc.stderr
    prompt, completion, total = map(int, match.groups())
    assert completion == 24 and total == prompt + completion
    assert "usage" not in proc.stdout


def test_stdin_is_appended_after_the_prompt(env: dict[str, str]) -> None:
    notes = "# Notes\n\n- buy milk\n- call Paris\n"
    alone = json_chat(env, "Summarise this", *SAMPLING)
    both = json_chat(env, "Summarise this", *SAMPLING, stdin=notes)
    # The server saw more prompt tokens: the piped text went along.
    assert both["usage"]["prompt_tokens"] > alone["usage"]["prompt_tokens"]
    user = log_of(env)["messages"][0]
    assert user["role"] == "user"
    assert user["content"] == "Summarise this\n\n# Notes\n\n- buy milk\n- call Paris"


def test_piped_stdin_alone_is_the_prompt(env: dict[str, str]) -> None:
    proc = run_chat(env, *SAMPLING, stdin="What is the capital of France?\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    messages = log_of(env)["messages"]
    assert messages[0]["role"] == "user"
    assert messages[0]["content"] == "What is the capital of France?"
    assert messages[1]["role"] == "assistant"
    assert messages[1]["content"].rstrip("\n") == proc.stdout.rstrip("\n")


@pytest.mark.parametrize(("args", "stdin"), [(["   "], ""), ([], "  \n\n")])
def test_empty_prompt_exits_2(env: dict[str, str], args: list[str], stdin: str) -> None:
    proc = run_chat(env, *args, stdin=stdin)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("Error: Empty prompt") and proc.stderr.count("\n") == 1


def test_continue_sends_the_earlier_turns(env: dict[str, str]) -> None:
    first = run_chat(env, "First question", "-s", "Be brief.", *SAMPLING)
    assert first.returncode == 0, first.stderr
    kept = log_of(env)
    fresh = json_chat(env, "Second question", "--no-log", *SAMPLING)
    # --no-log kept nothing: the first conversation is still the latest.
    assert log_of(env)["id"] == kept["id"]
    assert kept["messages"][1]["content"] == "First question"
    continued = json_chat(env, "-c", "Second question", *SAMPLING)
    assert continued["usage"]["prompt_tokens"] > fresh["usage"]["prompt_tokens"]
    time.sleep(0.3)
    after = log_of(env)
    assert after["id"] == kept["id"]
    messages = after["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "Be brief."
    assert messages[2]["content"].rstrip("\n") == first.stdout.rstrip("\n")
    assert messages[4]["content"] == continued["choices"][0]["message"]["content"]
    # --cid continues that one by id, --session a named one (created on first use).
    by_id = json_chat(env, "--cid", kept["id"], "Third", *SAMPLING)
    assert by_id["usage"]["prompt_tokens"] > continued["usage"]["prompt_tokens"]
    json_chat(env, "--session", "trip", "Where to?", *SAMPLING)
    time.sleep(0.3)
    named = json_chat(env, "--session", "trip", "And when?", *SAMPLING)
    assert named["usage"]["prompt_tokens"] > fresh["usage"]["prompt_tokens"]
    time.sleep(0.3)
    trip = log_of(env)
    assert trip["name"] == "trip" and trip["messageCount"] == 4


def test_continue_without_a_log_fails_clearly(env: dict[str, str]) -> None:
    proc = run_chat(env, "-c", "hello")
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: No previous conversation")
    proc = run_chat(env, "--cid", "conv_000000000000000000000000", "hello")
    assert proc.returncode == 5 and proc.stderr.startswith("Error: Conversation")
    proc = run_chat(env, "-c", "--session", "x", "hello")
    assert proc.returncode == 2 and "one of -c, --cid and --session" in proc.stderr


def test_the_old_local_conversation_is_imported_once(env: dict[str, str]) -> None:
    data = Path(env["CHATBOT_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    old = {
        "version": 1,
        "model": "default",
        "messages": [
            {"role": "user", "content": "an old question about zebras"},
            {"role": "assistant", "content": "an old answer"},
        ],
    }
    (data / "last_conversation.json").write_text(json.dumps(old))
    proc = run_chat(env, "-c", "More about zebras", *SAMPLING)
    assert proc.returncode == 0, proc.stderr
    assert "imported the conversation" in proc.stderr
    assert not (data / "last_conversation.json").exists()
    time.sleep(0.3)
    messages = log_of(env)["messages"]
    assert [m["content"] for m in messages[:3]] == [
        "an old question about zebras",
        "an old answer",
        "More about zebras",
    ]


def test_flags_override_the_config(server: LiveServer, env: dict[str, str]) -> None:
    env = {**env, "CHATBOT_URL": f"http://127.0.0.1:{free_port()}"}
    env["CHATBOT_API_KEY"] = "sk-wrong"
    proc = run_chat(env, "hi", "--url", server.url, "--api-key", server.api_key, *SAMPLING)
    assert proc.returncode == 0, proc.stderr
    # The root app's global options work too.
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "--url", server.url, "--api-key",
         server.api_key, "chat", "hi", *SAMPLING],
        env=env, input="", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


# --- errors -----------------------------------------------------------------------------------


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.startswith("Error: ")
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_unreachable_server(tmp_path: Path) -> None:
    env = {**os.environ, "CHATBOT_URL": f"http://127.0.0.1:{free_port()}"}
    err = assert_one_line_error(run_chat(env, "hi"), 3)
    assert "Cannot reach" in err and "chatbot serve" in err


def test_wrong_key(env: dict[str, str]) -> None:
    env = {**env, "CHATBOT_API_KEY": "sk-not-the-key"}
    err = assert_one_line_error(run_chat(env, "hi"), 4)
    assert "API key" in err and "CHATBOT_API_KEY" in err


def test_unknown_model_lists_the_available_ids(server: LiveServer, env: dict[str, str]) -> None:
    ids = [
        m["id"] for m in httpx.get(server.url + "/v1/models", headers=server.headers).json()["data"]
    ]
    assert ids
    err = assert_one_line_error(run_chat(env, "hi", "-m", "no-such-model"), 5)
    assert "no-such-model" in err
    assert "Available models: " + ", ".join(ids) in err
    assert err.count("Available models") == 1  # the server says them; the CLI adds nothing


@pytest.mark.parametrize("args", [["--temperature", "5"], ["--stop", ""]])
def test_invalid_request_shows_the_server_message(
    server: LiveServer, env: dict[str, str], args: list[str]
) -> None:
    direct = httpx.post(
        server.url + "/v1/chat/completions",
        headers=server.headers,
        json=TurnBody.build(args),
    )
    assert direct.status_code == 400
    message = direct.json()["error"]["message"]
    err = assert_one_line_error(run_chat(env, "hi", *args), 2)  # refused input: bad usage
    assert " ".join(message.split()) in err


class TurnBody:
    @staticmethod
    def build(args: list[str]) -> dict[str, Any]:
        from chatbot_cli.cli.turn import TurnOptions

        opts = TurnOptions(stream=True)
        if args[0] == "--temperature":
            opts.temperature = float(args[1])
        else:
            opts.stop = [args[1]]
        return {**opts.body([{"role": "user", "content": "hi"}]), "stream": True}


# --- interruption -----------------------------------------------------------------------------


def busy_slots(server: LiveServer) -> float:
    text = httpx.get(server.url + "/metrics", headers=server.headers).text
    match = re.search(r"^chatbot_engine_busy_slots (\S+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


def start_long_stream(env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot_cli", "chat", "Tell me everything", "--max-tokens", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: read(1) must not swallow output that communicate() then misses
    )
    assert proc.stdout is not None
    first = proc.stdout.read(1)  # generation is running once the first byte is here
    assert first, proc.stderr.read() if proc.stderr else b""
    proc.first = first  # type: ignore[attr-defined]
    return proc


def test_ctrl_c_stops_the_stream_and_frees_the_slot(
    server: LiveServer, env: dict[str, str]
) -> None:
    # The tiny model samples its end token at random, so a stream can end before the check:
    # start another one then (the subject is Ctrl-C in the middle of a stream).
    for _ in range(5):
        proc = start_long_stream(env)
        if busy_slots(server) == 1:
            break
        proc.communicate(timeout=30)
    assert busy_slots(server) == 1
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    output = proc.first + out  # type: ignore[attr-defined]
    assert output.strip() and output.endswith(b"\n")  # what arrived stays printed
    assert b"Interrupted" in err and b"Traceback" not in err
    # The server saw the disconnect: the slot is free again within a second.
    deadline = time.monotonic() + 1.0
    busy = busy_slots(server)
    while busy and time.monotonic() < deadline:
        time.sleep(0.05)
        busy = busy_slots(server)
    assert busy == 0
    # An interrupted answer is kept as far as it got, so `-c` can go on from it. The server
    # keeps what it sent before it saw the hang-up, which may run past what the client printed.
    kept = log_of(env)["messages"][1]["content"]
    assert kept.encode().startswith(output.rstrip(b"\n"))
    # And a new request is served at once.
    quick = run_chat(env, "hi", *SAMPLING, timeout=30)
    assert quick.returncode == 0, quick.stderr


def test_server_dying_mid_stream(live_server: LiveServer) -> None:
    proc = start_long_stream(live_server.env)
    live_server.kill()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    output = proc.first + out  # type: ignore[attr-defined]
    assert output.strip() and output.endswith(b"\n")  # what arrived stays printed
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "interrupted" in lines[0]
