"""Streamed `delta.tool_calls` folded into whole calls: one rule for the client reading our (or
any) server's stream and for the server joining its own engine's chunks into a response.

No imports beyond the standard library: the CLI loads this on its start-up path.
"""

from __future__ import annotations

from typing import Any

# More parallel calls than any model makes; a larger index is a broken stream, not a call.
MAX_INDEX = 1024


def merge_tool_call_deltas(calls: list[dict[str, Any]], deltas: list[Any]) -> None:
    """Add one chunk's `delta.tool_calls` to the calls so far, OpenAI's way (as the openai SDK
    does): the first delta of a call (by `index`) brings its id, type and name, the later ones
    pieces of `arguments`. Entries that are not objects or carry an impossible index are
    skipped."""
    for delta in deltas:
        if not isinstance(delta, dict):
            continue
        index = delta.get("index", len(calls) - 1 if calls else 0)
        if not isinstance(index, int) or index < 0 or index > MAX_INDEX:
            continue
        while len(calls) <= index:
            calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call = calls[index]
        if delta.get("id"):
            call["id"] = delta["id"]
        function = delta.get("function") or {}
        if function.get("name"):
            call["function"]["name"] += function["name"]
        if function.get("arguments"):
            call["function"]["arguments"] += function["arguments"]
