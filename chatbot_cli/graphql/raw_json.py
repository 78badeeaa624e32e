"""A completed list already written as JSON, spliced into the HTTP response as it is.

Why: for a page of todos completed the short way, making a dict per row and then having
`json.dumps` walk those dicts again (keys re-escaped on every row) cost more than writing each
row's JSON text at once from its values. So, on the HTTP path only (the router sets `FLAG` in
the context), `todo_rows.TodoRows` answers such a page as a `RawJSON`, and the router encodes
the response with `dumps`: Strawberry's own `json.dumps` call, with every `RawJSON` written as a
placeholder string then replaced by its text. Everything else in the response is encoded as
before, and a caller that executes the schema in-process (the MCP server) never sets the flag,
so it always gets plain lists. The bytes are those of `json.dumps` of the plain list
(tests/graphql/test_raw_json.py and the byte-for-byte suites).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

# The context key the HTTP router sets to accept `RawJSON` values.
FLAG = "chatbot.raw_json"
# A placeholder no stored value can contain: nobody outside this process knows the token.
_TOKEN = secrets.token_hex(16)


class RawJSON:
    """JSON text standing for one value of the response."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def dumps(data: Any) -> str:
    """`json.dumps(data, separators=(",", ":"))`, as Strawberry encodes a response, with each
    `RawJSON` in `data` written as its text."""
    raws: list[RawJSON] = []

    def default(value: Any) -> Any:
        if type(value) is RawJSON:
            raws.append(value)
            return f"\x00{_TOKEN}:{len(raws) - 1}\x00"
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    text = json.dumps(data, separators=(",", ":"), default=default)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00{_TOKEN}:{i}\x00"), raw.text, 1)
    return text
