"""Pure pieces of `chatbot chat`: prompt composition, request bodies, usage line, import cost."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chatbot_cli.cli.chat import compose_prompt
from chatbot_cli.cli.turn import TurnOptions, usage_line


@pytest.mark.parametrize(
    ("prompt", "stdin", "expected"),
    [
        ("Summarise this", "line 1\nline 2\n", "Summarise this\n\nline 1\nline 2"),
        (None, "just stdin\n", "just stdin"),
        ("  just prompt  ", None, "just prompt"),
        ("prompt", "", "prompt"),
        ("prompt", "\n\n    indented code\n\n", "prompt\n\n    indented code"),
        (None, "   \n", ""),
        ("", None, ""),
    ],
)
def test_compose_prompt(prompt: str | None, stdin: str | None, expected: str) -> None:
    assert compose_prompt(prompt, stdin) == expected


def test_body_only_carries_given_options() -> None:
    messages = [{"role": "user", "content": "hi"}]
    assert TurnOptions().body(messages) == {"model": "default", "messages": messages}
    body = TurnOptions(
        model="m",
        temperature=0.0,
        top_p=0.5,
        max_tokens=7,
        stop=["a", "b"],
        seed=3,
        usage=True,
    ).body(messages)
    assert body == {
        "model": "m",
        "messages": messages,
        "temperature": 0.0,
        "top_p": 0.5,
        "max_tokens": 7,
        "seed": 3,
        "stop": ["a", "b"],
        "stream_options": {"include_usage": True},
    }
    # Non-stream requests get usage anyway; stream_options would be refused there.
    assert "stream_options" not in TurnOptions(stream=False, usage=True).body(messages)


def test_usage_line() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert usage_line(usage) == "usage: prompt_tokens=3 completion_tokens=4 total_tokens=7"
    assert "not reported" in usage_line(None)


def test_chat_help_does_not_import_server_side() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['chatbot', 'chat', '--help']\n"
        "from chatbot_cli.cli.app import app\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = [m for m in ('fastapi', 'sqlalchemy', 'xllamacpp', 'starlette', 'uvicorn',\n"
        "         'chatbot_cli.engine', 'chatbot_cli.server', 'chatbot_cli.db')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--max-tokens" in proc.stdout and "--continue" in proc.stdout
    assert "HEAVY []" in proc.stdout


def test_chat_module_defers_httpx_rich_and_prompt_toolkit() -> None:
    code = (
        "import sys\n"
        "import chatbot_cli.cli.chat, chatbot_cli.cli.interactive, chatbot_cli.cli.render\n"
        "import chatbot_cli.cli.turn\n"
        "print([m for m in ('httpx', 'rich', 'prompt_toolkit') if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
