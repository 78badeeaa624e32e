"""The conversation of a chat run, and reading the local file earlier versions kept it in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot_cli.conversation import Conversation, legacy_path, read_legacy


def test_legacy_file_is_read_for_its_import(tmp_path: Path) -> None:
    assert read_legacy(tmp_path) is None
    legacy_path(tmp_path).write_text(
        json.dumps(
            {
                "version": 1,
                "model": "default",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                ],
            }
        )
    )
    old = read_legacy(tmp_path)
    assert old is not None and old.model == "default" and old.turns == 1
    assert old.messages[-1] == {"role": "assistant", "content": "hello"}


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"messages": [{"role": "wizard", "content": "x"}]}),
        json.dumps({"messages": [{"role": "user", "content": 5}]}),
    ],
)
def test_corrupt_legacy_file_is_a_value_error(tmp_path: Path, content: str) -> None:
    legacy_path(tmp_path).write_text(content)
    with pytest.raises(ValueError):
        read_legacy(tmp_path)


def test_system_message_stays_first_and_survives_clear() -> None:
    conv = Conversation(id="conv_1", name="work")
    conv.add("user", "q")
    conv.set_system("sys one")
    assert conv.messages[0] == {"role": "system", "content": "sys one"}
    conv.set_system("sys two")
    assert [m["content"] for m in conv.messages] == ["sys two", "q"]
    conv.clear()
    assert conv.messages == [{"role": "system", "content": "sys two"}]
    assert conv.id is None and conv.name is None  # /clear starts a new conversation
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
