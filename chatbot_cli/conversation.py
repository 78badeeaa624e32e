"""The conversation of a `chatbot chat` run, and the log that lets `--continue` pick it up again.

The log is one JSON file in the data dir holding the last conversation on this machine. It is
written atomically (temp file + rename) so a crash or Ctrl-C mid-write never leaves a torn file,
and with mode 0600 because conversations are private.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbot_cli.errors import ConversationLogError
from chatbot_cli.perms import private_dir

LOG_NAME = "last_conversation.json"
LOG_VERSION = 1
_ROLES = frozenset({"system", "user", "assistant"})


@dataclass
class Conversation:
    messages: list[dict[str, str]] = field(default_factory=list)
    model: str | None = None

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
        """Forget the turns; the system message stays, as it is a setting rather than a turn."""
        system = self.system
        self.messages.clear()
        self.set_system(system)

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m["role"] == "user")

    def to_json(self) -> dict[str, Any]:
        return {
            "version": LOG_VERSION,
            "model": self.model,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "messages": self.messages,
        }

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


def log_path(data_dir: Path) -> Path:
    return data_dir / LOG_NAME


def load_last(data_dir: Path) -> Conversation:
    """The conversation of the last run, for `--continue`; a clear error if there is none."""
    path = log_path(data_dir)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConversationLogError(
            f"No previous conversation to continue (none logged at {path})."
        ) from None
    try:
        return Conversation.from_json(json.loads(raw))
    except ValueError as exc:
        raise ConversationLogError(
            f"The conversation log {path} is unreadable ({exc}); start a new chat without -c."
        ) from None


def save_last(data_dir: Path, conversation: Conversation) -> Path:
    path = log_path(data_dir)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(conversation.to_json(), fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
