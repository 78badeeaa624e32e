"""Hostile model output against `chatbot chat` (issue 22, item 3): escape sequences that would
clear the screen, retitle the window, hide a link target or write the clipboard reach stdout only
as visible text, on a terminal (live, --no-stream, the REPL) and in a pipe (unless --raw). The
server here is scripted, standing in for a model a prompt injection has taken over."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from tests.cli.test_chat_fakeserver import FakeServer, Handler, fake_env, sse
from tests.cli.test_chat_fakeserver import fake as fake  # noqa: F401  (fixture)
from tests.cli.test_chat_tty import finish, send, spawn

pytestmark = pytest.mark.e2e

ANSWER = (
    "Sure.\x1b[2J\x1b[H Done \x1b]0;pwned\x07\n\n"
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\ \x1b]52;c;cm0gLXJm\x07\x9b31m end\r\n"
)
# Cut in 3-character pieces, so every sequence is split across chunks.
PARTS = [ANSWER[i : i + 3] for i in range(0, len(ANSWER), 3)]
FROM_THE_MODEL = ("\x1b[2J", "\x1b[H", "\x1b]0;", "\x1b]8;;", "\x1b]52;", "\x07", "\x9b")


def assert_inert(out: str) -> None:
    for seq in FROM_THE_MODEL:
        assert seq not in out, (seq, out)
    assert "␛]52;c;cm0gLXJm␇" in out  # shown, so the user sees what was attempted


def run_chat(server: FakeServer, *args: str) -> subprocess.CompletedProcess[str]:
    """`chatbot chat` in a pipe; stdout decoded without newline translation, so a CR shows."""
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "chat", *args],
        env=fake_env(server),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def whole(h: Handler) -> None:
    message = {"role": "assistant", "content": ANSWER}
    choice = {"index": 0, "finish_reason": "stop", "message": message}
    h.send_json(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "default",
                      "choices": [choice]})  # fmt: skip


def test_pipe_stream(fake: FakeServer) -> None:  # noqa: F811
    fake.responders.append(sse(PARTS))
    proc = run_chat(fake, "hi")
    assert proc.returncode == 0, proc.stderr
    assert_inert(proc.stdout)
    assert "\r" not in proc.stdout


def test_pipe_no_stream(fake: FakeServer) -> None:  # noqa: F811
    fake.responders.append(whole)
    proc = run_chat(fake, "hi", "--no-stream")
    assert proc.returncode == 0, proc.stderr
    assert_inert(proc.stdout)
    assert "\r" not in proc.stdout


def test_pipe_raw_passes_the_answer_through(fake: FakeServer) -> None:  # noqa: F811
    fake.responders += [sse(PARTS), whole]
    for args in (["--raw"], ["--raw", "--no-stream"]):
        proc = run_chat(fake, "hi", *args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == ANSWER


def test_json_escapes_everything(fake: FakeServer) -> None:  # noqa: F811
    fake.responders.append(whole)
    proc = run_chat(fake, "hi", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert json.loads(proc.stdout)["choices"][0]["message"]["content"] == ANSWER


def test_error_messages_are_inert(fake: FakeServer) -> None:  # noqa: F811
    message = "bad \x1b]0;pwned\x07 \x1b[2J thing"
    fake.responders.append(
        lambda h: h.send_json(400, {"error": {"message": message, "type": "x", "code": None}})
    )
    proc = run_chat(fake, "hi")
    assert proc.returncode != 0
    assert "\x1b" not in proc.stderr and "␛]0;pwned␇" in proc.stderr


@pytest.mark.parametrize("args", [[], ["--no-stream"], ["--raw"]])
def test_terminal(fake: FakeServer, args: list[str]) -> None:  # noqa: F811
    fake.responders.append(whole if "--no-stream" in args else sse(PARTS))
    env = {**os.environ, "CHATBOT_URL": fake.url, "CHATBOT_API_KEY": "sk-fake"}
    child = spawn(env, "hi", *args)
    out = finish(child)
    assert child.exitstatus == 0, out
    assert_inert(out)


def test_interactive_session(fake: FakeServer) -> None:  # noqa: F811
    fake.responders.append(sse(PARTS))
    env = {**os.environ, "CHATBOT_URL": fake.url, "CHATBOT_API_KEY": "sk-fake"}
    child = spawn(env)
    child.logfile_read = seen = io.StringIO()
    child.expect("Chatting with")
    send(child, "hello")
    child.expect("end")
    send(child, "/exit")
    finish(child)
    assert child.exitstatus == 0
    assert_inert(seen.getvalue())
