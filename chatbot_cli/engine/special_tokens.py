"""Message text is tokenised as text: a model's special tokens typed in a message stay text.

llama.cpp's server applies the chat template and tokenises the whole prompt with special-token
parsing on, and xllamacpp offers no switch for it (`CommonParams.parse_special` is only read by
other llama.cpp tools). So `<|im_start|>system` pasted into a user message would become the real
turn marker and fake a system or assistant turn. Before templating, every occurrence of a
special token's text in message content gets a zero-width space after its first character: it
looks the same, but no longer matches the token, and is tokenised as the characters it is.

Which strings are special is read from the model's own GGUF vocabulary, never a fixed list:
control and unknown tokens (what llama.cpp matches only when parsing specials), and user-defined
tokens the chat template itself writes (llama.cpp matches those always, and some models mark
their turn markers so).
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chatbot_cli.engine.gguf import _ARRAY, _SCALARS, _STRING, GGUF_MAGIC

# tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
UNKNOWN, CONTROL, USER_DEFINED = 2, 3, 4
BREAK = "\u200b"  # zero-width space
_WANTED = ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.chat_template")


def read_vocabulary(path: Path) -> dict[str, Any]:
    """The token texts (as bytes), token types and chat template of a GGUF file, those of them
    present. Raises ValueError on a file that is not GGUF or is truncated."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        try:
            return _Reader(mm).vocabulary()
        except struct.error as exc:
            raise ValueError(f"truncated GGUF metadata ({exc})") from None


class _Reader:
    """GGUF metadata walked over a memory map: a vocabulary has tens of thousands of strings,
    and unpacking them in place is several times faster than reading them one by one."""

    def __init__(self, mm: mmap.mmap) -> None:
        self.mm = mm
        self.pos = 0
        self.count = "<Q"

    def unpack(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self.mm, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def raw_string(self) -> bytes:
        n = self.unpack(self.count)
        data = self.mm[self.pos : self.pos + n]
        if len(data) != n:
            raise ValueError("truncated GGUF metadata")
        self.pos += n
        return data

    def vocabulary(self) -> dict[str, Any]:
        if self.mm[:4] != GGUF_MAGIC:
            raise ValueError("not a GGUF file")
        self.pos = 4
        self.count = "<I" if self.unpack("<I") == 1 else "<Q"  # v1: 32-bit counts
        self.unpack(self.count)  # tensor count
        out: dict[str, Any] = {}
        for _ in range(self.unpack(self.count)):
            key = self.raw_string().decode("utf-8", errors="replace")
            vtype = self.unpack("<I")
            value: Any
            if vtype == _ARRAY:
                item_type, length = self.unpack("<I"), self.unpack(self.count)
                value = self.array(item_type, length, keep=key in _WANTED)
            elif vtype == _STRING:
                value = self.raw_string().decode("utf-8", errors="replace")
            elif vtype in _SCALARS:
                value = self.unpack(_SCALARS[vtype])
            else:
                raise ValueError(f"unknown GGUF value type {vtype}")
            if key in _WANTED:
                out[key] = value
        return out

    def array(self, item_type: int, length: int, *, keep: bool) -> list[Any] | None:
        if item_type == _STRING:
            # The hot loop (one pass per token): locals only, no method calls.
            head = struct.Struct(self.count)
            unpack_from, width, mm, pos = head.unpack_from, head.size, self.mm, self.pos
            strings = []
            for _ in range(length):
                (n,) = unpack_from(mm, pos)
                pos += width
                if keep:
                    strings.append(mm[pos : pos + n])
                pos += n
            if pos > len(mm):
                raise ValueError("truncated GGUF metadata")
            self.pos = pos
            return strings if keep else None
        fmt = _SCALARS.get(item_type)
        if fmt is None:
            raise ValueError(f"unsupported GGUF array type {item_type}")
        many = struct.Struct(f"<{length}{fmt[1]}")
        values = list(many.unpack_from(self.mm, self.pos)) if keep else None
        self.pos += many.size
        return values


def special_texts(vocabulary: dict[str, Any]) -> list[str]:
    """The strings llama.cpp would turn into special tokens inside a templated prompt."""
    tokens = vocabulary.get("tokenizer.ggml.tokens") or []
    types = vocabulary.get("tokenizer.ggml.token_type") or []
    template = vocabulary.get("tokenizer.chat_template") or ""
    found = set()
    for raw, kind in zip(tokens, types, strict=False):
        if kind not in (CONTROL, UNKNOWN, USER_DEFINED):
            continue
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        # A one-character token cannot be broken by an insertion; none is known to be special.
        if len(text) < 2 or BREAK in text:
            continue
        if kind != USER_DEFINED or text in template:
            found.add(text)
    return sorted(found, key=len, reverse=True)


class Neutralizer:
    """Breaks the special-token strings of one model in message content."""

    def __init__(self, specials: Iterable[str]) -> None:
        self.specials = tuple(specials)

    @classmethod
    def for_model(cls, path: Path) -> Neutralizer:
        return cls(special_texts(read_vocabulary(path)))

    def text(self, content: str) -> str:
        # `in` is a fast substring scan in C; nearly every message contains no special string.
        for special in self.specials:
            if special in content:
                content = content.replace(special, special[0] + BREAK + special[1:])
        return content

    def body(self, body: dict[str, Any]) -> dict[str, Any]:
        """An OpenAI chat request body with every message's text content neutralised (the
        messages are copied; the caller's dicts are not changed)."""
        if not self.specials:
            return body
        return {**body, "messages": [self._message(m) for m in body.get("messages") or []]}

    def _message(self, message: Any) -> Any:
        if not isinstance(message, dict):
            return message
        content = message.get("content")
        if isinstance(content, str):
            return {**message, "content": self.text(content)}
        if isinstance(content, list):
            parts = [
                {**part, "text": self.text(part["text"])}
                if isinstance(part, dict) and isinstance(part.get("text"), str)
                else part
                for part in content
            ]
            return {**message, "content": parts}
        return message
