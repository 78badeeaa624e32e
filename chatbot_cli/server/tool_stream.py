"""The constrained tool-call JSON, read as it is generated, turned into OpenAI's deltas.

On a model whose chat template knows no tools, `tools.py` constrains generation to a JSON
schema: `{"tool_calls": [{"name": ..., "arguments": {...}}, ...]}` or, where a plain answer is
allowed, `{"content": ...}`. llama.cpp's grammar guarantees that shape (and writes `name` before
`arguments`, as the schema lists them), so this reader only has to follow it one character at a
time. A call goes out once its JSON object closes, as OpenAI's deltas: first its index, id, type
and name (arguments ""), then the raw JSON text of its `arguments` value. Holding it until then
is what keeps every call the client sees whole: llama.cpp's grammar guarantees the shape, but not
that the shape ends before max_tokens (SmolLM2 can repeat one array item until the limit), and a
stream's half-sent call would otherwise be run by clients as a call with broken arguments; cut
calls are dropped, as the whole (non-stream) response drops them. `content` goes out as it comes,
as the decoded text of the string (or the raw JSON of a structured answer).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

_SPACE = " \t\n\r"


def call_id() -> str:
    return "call_" + secrets.token_hex(12)


@dataclass
class _Frame:
    is_object: bool
    key: Any = None  # the current key (object) or index (array)
    expecting_key: bool = True


@dataclass
class _Call:
    id: str
    name: str | None = None
    arguments: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # fragments seen before the name


@dataclass
class Output:
    """What one `feed` produced: decoded content text and `delta.tool_calls` entries."""

    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


class ToolCallReader:
    def __init__(self) -> None:
        self._stack: list[_Frame] = []
        self._in_string = False
        self._escape = False
        self._hex_left = 0
        self._string_kind: str | None = None  # "key" | "name" | "content" | None
        self._buf: list[str] = []
        self._capture: str | None = None  # "args" | "raw_content" | "content"
        self._capture_depth = 0
        self._capture_string = False
        self._call_index = 0
        self._pending: list[str] = []  # raw chars of the content string not yet decoded
        self._safe = 0  # how many of them end outside an escape
        self.calls: dict[int, _Call] = {}
        self.complete: set[int] = set()  # calls whose object has closed
        self._held: list[dict[str, Any]] = []  # deltas of calls not complete yet
        self.content: list[str] = []
        self.closed = False  # the root object is complete

    # -- public ---------------------------------------------------------------------------------

    def feed(self, text: str) -> Output:
        out = Output()
        for c in text:
            self._char(c, out)
        if self._capture == "content":
            self._flush_content(out, final=False)
        self._held += out.tool_calls
        out.tool_calls = _merge([d for d in self._held if d["index"] in self.complete])
        self._held = [d for d in self._held if d["index"] not in self.complete]
        return out

    def tool_calls(self) -> list[dict[str, Any]]:
        """The complete calls in OpenAI's message shape."""
        return [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": "".join(call.arguments)},
            }
            for index, call in sorted(self.calls.items())
            if call.name is not None and index in self.complete
        ]

    # -- the scanner ----------------------------------------------------------------------------

    def _char(self, c: str, out: Output) -> None:
        if self._in_string:
            self._string_char(c, out)
            return
        if self._capture in ("args", "raw_content") and not self._capture_string:
            depth = len(self._stack)
            if depth == self._capture_depth and (c in _SPACE or c in ",]}"):
                self._capture = None  # a number, true, false or null ended
            elif c not in _SPACE or depth > self._capture_depth:
                self._emit_raw(c, out)
        if c in _SPACE:
            return
        top = self._stack[-1] if self._stack else None
        if c == ":" and top is not None:
            top.expecting_key = False
            return
        if c == ",":
            if top is not None:
                if top.is_object:
                    top.expecting_key = True
                else:
                    top.key += 1
            return
        if c in "}]":
            self._stack.pop()
            if len(self._stack) == 2 and self._stack[0].key == "tool_calls":
                self.complete.add(self._stack[1].key)  # the call's object closed
            if self._capture in ("args", "raw_content") and len(self._stack) == self._capture_depth:
                self._capture = None
            if not self._stack:
                self.closed = True
            return
        # the start of a key or a value
        if top is not None and top.is_object and top.expecting_key:
            if c == '"':
                self._start_string("key")
            return
        if self._capture is None:
            self._maybe_capture(c, out)
        if c == "{":
            self._stack.append(_Frame(True))
        elif c == "[":
            self._stack.append(_Frame(False, 0, False))
        elif c == '"':
            self._start_string(self._string_role())

    def _path(self) -> list[Any]:
        return [frame.key for frame in self._stack]

    def _string_role(self) -> str | None:
        path = self._path()
        if len(path) == 3 and path[0] == "tool_calls" and path[2] == "name":
            return "name"
        return None

    def _maybe_capture(self, c: str, out: Output) -> None:
        path = self._path()
        if len(path) == 3 and path[0] == "tool_calls" and path[2] == "arguments":
            self._capture, self._call_index = "args", path[1]
        elif path == ["content"] and c == '"':
            self._capture = "content"
            self._pending, self._safe = [], 0
            return  # the string's characters are decoded, not copied
        elif path == ["content"]:
            self._capture = "raw_content"
        else:
            return
        self._capture_depth = len(self._stack)
        self._capture_string = c == '"'
        self._emit_raw(c, out)

    def _start_string(self, kind: str | None) -> None:
        self._in_string, self._string_kind, self._buf = True, kind, []

    def _string_char(self, c: str, out: Output) -> None:
        capture = self._capture
        if capture in ("args", "raw_content"):
            self._emit_raw(c, out)
        elif capture == "content":
            self._pending.append(c)
        if self._escape:
            self._escape = False
            self._hex_left = 4 if c == "u" else 0
            self._after_escape_char(capture, c)
            return
        if self._hex_left:
            self._hex_left -= 1
            self._after_escape_char(capture, c)
            return
        if c == "\\":
            self._escape = True
            self._buf.append(c)
            return
        if c == '"':
            self._in_string = False
            self._end_string(out)
            return
        self._buf.append(c)
        if capture == "content":
            self._safe = len(self._pending)

    def _after_escape_char(self, capture: str | None, c: str) -> None:
        self._buf.append(c)
        if capture == "content" and not self._hex_left:
            # Wait for the low half of a surrogate pair before decoding.
            tail = "".join(self._pending[-4:])
            high = self._pending[-6:-4] == ["\\", "u"] and tail[:2].upper() in (
                "D8",
                "D9",
                "DA",
                "DB",
            )
            if not high:
                self._safe = len(self._pending)

    def _end_string(self, out: Output) -> None:
        kind, raw = self._string_kind, "".join(self._buf)
        top = self._stack[-1] if self._stack else None
        if kind == "key" and top is not None:
            top.key = _decode(raw)
        elif kind == "name" and len(self._stack) == 3:
            index = self._stack[1].key
            call = self.calls.setdefault(index, _Call(call_id()))
            call.name = _decode(raw)
            out.tool_calls.append(
                {
                    "index": index,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""},
                }
            )
            if call.held:
                held, call.held = "".join(call.held), []
                call.arguments.append(held)
                out.tool_calls.append({"index": index, "function": {"arguments": held}})
        if self._capture == "content":
            self._pending.pop()  # the closing quote
            self._safe = len(self._pending)
            self._flush_content(out, final=True)
            self._capture = None
        elif self._capture_string and len(self._stack) == self._capture_depth:
            self._capture = None

    def _emit_raw(self, c: str, out: Output) -> None:
        if self._capture == "raw_content":
            self.content.append(c)
            out.content += c
            return
        index = self._call_index
        call = self.calls.setdefault(index, _Call(call_id()))
        if call.name is None:
            call.held.append(c)
            return
        call.arguments.append(c)
        out.tool_calls.append({"index": index, "function": {"arguments": c}})

    def _flush_content(self, out: Output, final: bool) -> None:
        cut = len(self._pending) if final else self._safe
        if not cut:
            return
        raw = "".join(self._pending[:cut])
        del self._pending[:cut]
        self._safe -= cut
        text = _decode(raw)
        self.content.append(text)
        out.content += text


def _decode(raw: str) -> str:
    try:
        text = json.loads('"' + raw + '"')
    except ValueError:
        text = raw
    # A lone surrogate cannot be sent as UTF-8.
    return str(text).encode("utf-8", "replace").decode("utf-8")


def _merge(deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join consecutive argument fragments of one call into one delta entry."""
    merged: list[dict[str, Any]] = []
    for delta in deltas:
        last = merged[-1] if merged else None
        if (
            last is not None
            and "id" not in delta
            and last["index"] == delta["index"]
            and set(last) == {"index", "function"}
        ):
            last["function"] = {
                "arguments": last["function"]["arguments"] + delta["function"]["arguments"]
            }
        else:
            merged.append({**delta, "function": dict(delta["function"])})
    return merged
