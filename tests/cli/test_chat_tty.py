"""`chatbot chat` on a (pseudo-)terminal via pexpect: live Markdown and the interactive session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.cli.test_chat_fakeserver import FakeServer, Handler, slow_sse, sse
from tests.cli.test_chat_fakeserver import fake as fake  # noqa: F401  (fixture)
from tests.live import LiveServer

ANSI_BOLD = "\x1b[1m"
PROMPT_READY = "\x1b[?2004h"


def tty_env(base: dict[str, str]) -> dict[str, str]:
    # No cursor-position request: the pty in tests never answers it.
    return {**base, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "100"}


def spawn(env: dict[str, str], *args: str) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "chatbot_cli", "chat", *args],
        env=tty_env(env),
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(40, 100),
        timeout=30,
    )


@pytest.fixture
def fake_env(fake: FakeServer) -> dict[str, str]:  # noqa: F811
    return {**os.environ, "CHATBOT_URL": fake.url, "CHATBOT_API_KEY": "sk-fake"}


def prompt_ready(child: pexpect.spawn) -> None:
    # prompt_toolkit turns bracketed paste on once the terminal is in raw mode and the prompt is
    # drawn; keys sent earlier would meet the cooked terminal (where Ctrl-D is not a key).
    child.expect_exact(PROMPT_READY)


def send(child: pexpect.spawn, line: str) -> None:
    prompt_ready(child)
    child.sendline(line)


def finish(child: pexpect.spawn) -> str:
    child.expect(pexpect.EOF)
    child.close()
    return str(child.before)


def test_terminal_output_is_rendered_markdown(fake: FakeServer, fake_env: dict[str, str]) -> None:  # noqa: F811
    answer = "Hello **bold** world.\n\n- one\n- two\n\n```python\nx = 1\n```\n\nThe *end*."
    parts = [answer[i : i + 4] for i in range(0, len(answer), 4)]
    fake.responders.append(sse(parts))
    child = spawn(fake_env, "hi")
    out = finish(child)
    assert child.exitstatus == 0, out
    assert ANSI_BOLD + "bold" in out
    assert "**" not in out and "```" not in out
    assert "•" in out and "x = 1" in out
    assert "end" in out.rsplit("\x1b[2K", 1)[-1]  # the final rendering stays on screen


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[LiveServer]:
    srv = LiveServer(home=tmp_path_factory.mktemp("chat-tty-server"), model=tiny_model).start()
    yield srv
    srv.kill()


def test_ctrl_c_on_a_terminal_keeps_what_arrived_and_exits_130(
    fake: FakeServer,  # noqa: F811
    fake_env: dict[str, str],
) -> None:
    fake.responders.append(slow_sse())
    child = spawn(fake_env, "talk forever")
    child.expect("word")
    child.sendintr()
    out = finish(child)
    assert child.exitstatus == 130, out
    assert fake.disconnected.wait(1.0)  # the connection was closed at once
    assert "Interrupted." in out and "Traceback" not in out
    assert "word" in out.rsplit("\x1b[2K", 1)[-1]  # the partial answer stays on screen


def test_terminal_output_against_the_real_server(server: LiveServer) -> None:
    child = spawn(server.env, "Say hello", "--max-tokens", "32", "--seed", "1")
    out = finish(child)
    assert child.exitstatus == 0, out
    assert "Error" not in out


def test_interactive_session_keeps_the_conversation(
    fake: FakeServer,  # noqa: F811
    fake_env: dict[str, str],
    isolated_env: Path,
) -> None:
    fake.responders += [sse(["ANSWER-ONE"]), sse(["ANSWER-TWO"]), sse(["ANSWER-3"])]
    fake.responders += [sse(["ANSWER-4"])]
    child = spawn(fake_env, "-s", "Be brief.")
    child.expect("Chatting with model 'default'")
    child.expect("in new conversation")
    send(child, "first question")
    child.expect("ANSWER-ONE")
    child.expect("kept as conversation conv_fake")
    send(child, "second question")
    child.expect("ANSWER-TWO")
    send(child, "/model other")
    child.expect("Model: other")
    send(child, "/system Be nice.")
    child.expect("System message set")
    send(child, "third")
    child.expect("ANSWER-3")
    send(child, "/clear")
    child.expect("Conversation cleared")
    send(child, "/help")
    child.expect("/system TEXT")
    send(child, "fourth")
    child.expect("ANSWER-4")
    send(child, "/exit")
    finish(child)
    assert child.exitstatus == 0

    def contents(i: int) -> list[str]:
        return [m["content"] for m in fake.requests[i]["messages"]]

    assert contents(0) == ["Be brief.", "first question"]
    assert contents(1) == ["Be brief.", "first question", "ANSWER-ONE", "second question"]
    assert fake.requests[2]["model"] == "other"
    assert contents(2)[0] == "Be nice." and contents(2)[-1] == "third"
    assert contents(3) == ["Be nice.", "fourth"]  # /clear kept only the system message
    # Line history is kept in the data dir for the next session.
    history = (isolated_env / "data" / "chat_history").read_text()
    assert "first question" in history and "/exit" in history
    # Every turn is kept on the server: the first starts a conversation, the next ones name
    # it, and /clear starts a new one (chat -c continuing from the server: test_chat_e2e.py).
    assert all(r["store"] is True for r in fake.requests)
    assert [r.get("conversation") for r in fake.requests] == [None, "conv_fake", "conv_fake", None]


def test_ctrl_c_cancels_the_answer_but_not_the_session(
    fake: FakeServer,  # noqa: F811
    fake_env: dict[str, str],
) -> None:
    fake.responders += [slow_sse(), sse(["AFTER-CANCEL"])]
    child = spawn(fake_env)
    child.expect("Chatting with")
    send(child, "talk forever")
    child.expect("word")
    child.sendintr()
    child.expect("answer cancelled")
    assert fake.disconnected.wait(1.0)  # the connection was closed at once
    send(child, "next")
    child.expect("AFTER-CANCEL")
    # The cancelled answer stayed in the conversation as far as it got.
    history = fake.requests[1]["messages"]
    assert history[1]["role"] == "assistant" and history[1]["content"].startswith("word")
    prompt_ready(child)
    child.sendeof()
    finish(child)
    assert child.exitstatus == 0


def test_errors_in_a_session_do_not_end_it(fake: FakeServer, fake_env: dict[str, str]) -> None:  # noqa: F811
    def not_found(h: Handler) -> None:
        h.send_json(404, {"error": {"message": "The model 'x' does not exist.",
                                    "type": "invalid_request_error", "param": "model",
                                    "code": "model_not_found"}})  # fmt: skip

    fake.responders += [not_found, sse(["RECOVERED"])]
    child = spawn(fake_env, "-m", "x")
    child.expect("Chatting with")
    send(child, "hello")
    child.expect("Available models: default, other")
    send(child, "/model default")
    send(child, "hello again")
    child.expect("RECOVERED")
    # The failed turn was not kept.
    assert [m["content"] for m in fake.requests[1]["messages"]] == ["hello again"]
    send(child, "/exit")
    finish(child)
    assert child.exitstatus == 0


@pytest.mark.parametrize("leave", ["/exit", "eof"])
def test_interactive_session_with_the_real_server(server: LiveServer, leave: str) -> None:
    child = spawn(server.env, "--max-tokens", "8")
    child.expect("Chatting with")
    send(child, "hello")
    prompt_ready(child)  # the answer is done and the prompt is back
    if leave == "eof":
        child.sendeof()
    else:
        child.sendline("/exit")
    finish(child)
    assert child.exitstatus == 0


def wrapping_sse(h: Handler) -> None:
    """A paragraph growing a word at a time, so the live region's last line is padded to the
    full width, until the client goes away."""
    import time

    h.start_sse()
    try:
        for i in range(3000):
            h.delta(f"word{i} ")
            time.sleep(0.01)
    except OSError:
        pass
    h.close_connection = True


def test_ctrl_c_leaves_each_line_on_screen_once(fake: FakeServer, fake_env: dict[str, str]) -> None:  # noqa: F811
    """The terminal's `^C` echo used to wrap after the padded last line, so Rich's redraw began a
    line too low and a line stayed on screen twice (issue 22, item 11)."""
    import io

    import pyte

    fake.responders.append(wrapping_sse)
    child = spawn(fake_env, "talk")
    child.logfile_read = seen = io.StringIO()
    child.expect("word40 ")  # past the first full line
    child.sendintr()
    finish(child)
    assert child.exitstatus == 130
    screen = pyte.Screen(100, 40)
    pyte.Stream(screen).feed(seen.getvalue())
    lines = [line.rstrip() for line in screen.display if line.strip()]
    assert lines[-1] == "Interrupted.", lines
    answer = lines[:-1]
    assert answer and answer[0].startswith("word0 "), lines
    assert len(set(answer)) == len(answer), lines  # no line twice
    words = " ".join(answer).split()
    assert words == [f"word{i}" for i in range(len(words))], lines  # nothing lost or repeated


def test_model_switch_is_checked_at_once(fake: FakeServer, fake_env: dict[str, str]) -> None:  # noqa: F811
    fake.responders.append(sse(["ANSWER"]))
    child = spawn(fake_env)
    child.expect("Chatting with")
    send(child, "/model nope")
    child.expect_exact("Error: The model 'nope' does not exist. Available models: default, other.")
    child.expect_exact("Model: default")
    send(child, "/model other")
    child.expect_exact("Model: other")
    send(child, "hello")
    child.expect("ANSWER")
    send(child, "/exit")
    finish(child)
    assert child.exitstatus == 0
    assert [r["model"] for r in fake.requests] == ["other"]  # `nope` never reached a request
