"""The conversation of a `chatbot chat` run, and the local file earlier versions kept it in.

Conversations live on the server now (`store: true`, `chatbot log`). The JSON file that held the
machine's last conversation for `--continue` is read only to import it once (cli/chat_log.py),
then removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOG_NAME = "last_conversation.json"
_ROLES = frozenset({"system", "user", "assistant"})


@dataclass
class Conversation:
    messages: list[dict[str, str]] = field(default_factory=list)
    model: str | None = None
    # The server's id once a turn has been stored; a session name for a new one (--session).
    id: str | None = None
    name: str | None = None

    @property
    def system(self) -> str | None:
        if self.messages and self.messages[0]["role"] == "system":
            return self.messages[0]["content"]
        return None

    def set_system(self, text: str | None) -> None:
        """Replace (or with None/empty, remove) the system message, which always comes first."""
        if self.system is not None:
            self.messages.pop(0)
        if text:
            self.messages.insert(0, {"role": "system", "content": text})

    def add(self, role: str, content: str) -> None:
        self.messages.append({"role": role, "content": content})

    def pop_last_user(self) -> None:
        """Undo a user turn whose answer failed, so the next attempt does not send it twice."""
        if self.messages and self.messages[-1]["role"] == "user":
            self.messages.pop()

    def clear(self) -> None:
        """Forget the turns and start a new conversation; the system message stays, as it is a
        setting rather than a turn."""
        system = self.system
        self.messages.clear()
        self.set_system(system)
        self.id = None
        self.name = None

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m["role"] == "user")

    @classmethod
    def from_json(cls, data: Any) -> Conversation:
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise ValueError("not a conversation log")
        messages: list[dict[str, str]] = []
        for m in data["messages"]:
            if (
                not isinstance(m, dict)
                or m.get("role") not in _ROLES
                or not isinstance(m.get("content"), str)
            ):
                raise ValueError("malformed message")
            messages.append({"role": m["role"], "content": m["content"]})
        model = data.get("model")
        return cls(messages=messages, model=model if isinstance(model, str) else None)


def legacy_path(data_dir: Path) -> Path:
    return data_dir / LOG_NAME


def read_legacy(data_dir: Path) -> Conversation | None:
    """The conversation an earlier version left in the data dir; None when there is none.
    ValueError when the file cannot be used."""
    path = legacy_path(data_dir)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return Conversation.from_json(json.loads(raw))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from None
