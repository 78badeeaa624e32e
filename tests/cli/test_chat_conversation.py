"""The conversation log behind `chatbot chat --continue`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from chatbot_cli.conversation import (
    Conversation,
    ConversationLogError,
    load_last,
    log_path,
    save_last,
)


def test_round_trip_and_private_mode(tmp_path: Path) -> None:
    conv = Conversation(model="default")
    conv.set_system("be brief")
    conv.add("user", "hi")
    conv.add("assistant", "hello")
    path = save_last(tmp_path / "data", conv)
    assert path == log_path(tmp_path / "data")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = load_last(tmp_path / "data")
    assert loaded.messages == conv.messages
    assert loaded.model == "default"
    assert loaded.turns == 1
    # No temp file left next to it.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_save_replaces_atomically(tmp_path: Path) -> None:
    save_last(tmp_path, Conversation(messages=[{"role": "user", "content": "one"}]))
    save_last(tmp_path, Conversation(messages=[{"role": "user", "content": "two"}]))
    assert load_last(tmp_path).messages == [{"role": "user", "content": "two"}]


def test_missing_log_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConversationLogError, match="No previous conversation") as info:
        load_last(tmp_path)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"messages": [{"role": "wizard", "content": "x"}]}),
        json.dumps({"messages": [{"role": "user", "content": 5}]}),
    ],
)
def test_corrupt_log_is_a_clear_error(tmp_path: Path, content: str) -> None:
    log_path(tmp_path).write_text(content)
    with pytest.raises(ConversationLogError, match="unreadable"):
        load_last(tmp_path)


def test_system_message_stays_first_and_survives_clear() -> None:
    conv = Conversation()
    conv.add("user", "q")
    conv.set_system("sys one")
    assert conv.messages[0] == {"role": "system", "content": "sys one"}
    conv.set_system("sys two")
    assert [m["content"] for m in conv.messages] == ["sys two", "q"]
    conv.clear()
    assert conv.messages == [{"role": "system", "content": "sys two"}]
    conv.set_system(None)
    assert conv.messages == []


def test_pop_last_user_only_removes_a_user_turn() -> None:
    conv = Conversation()
    conv.add("user", "q")
    conv.add("assistant", "a")
    conv.pop_last_user()
    assert len(conv.messages) == 2
    conv.add("user", "q2")
    conv.pop_last_user()
    assert conv.messages[-1]["role"] == "assistant"
