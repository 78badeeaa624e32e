"""Model text made safe to print on a terminal.

A model's answer is untrusted: a prompt injection (say, in a file piped into `chatbot chat`) can
make it emit escape sequences that clear the screen, retitle the window, hide a link target
(OSC 8) or write the clipboard (OSC 52). Every control character except newline and tab is
therefore shown as its Unicode "control picture" (ESC becomes `␛`): an escape sequence turns
into inert, visible text. Carriage returns are dropped, so no line can overwrite another.

The mapping is per character, so a sequence split across streamed chunks is caught in each
piece; chunks without a control character (nearly all) cost one regex scan.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, and the C1 controls (U+0080-U+009F: some terminals
# take U+009B as CSI and U+009D as OSC).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_VISIBLE: dict[int, str | None] = {c: chr(0x2400 + c) for c in range(0x20) if c not in (9, 10)}
_VISIBLE[0x0D] = None
_VISIBLE[0x7F] = "\u2421"  # ␡
_VISIBLE.update(dict.fromkeys(range(0x80, 0xA0), "\ufffd"))


def for_terminal(text: str) -> str:
    """`text` with every control character but newline and tab made visible (or, for CR,
    dropped)."""
    if _UNSAFE.search(text) is None:
        return text
    return text.translate(_VISIBLE)


def one_line(text: str) -> str:
    """`text` as one safe line: whitespace runs (newlines too) become one space."""
    return " ".join(for_terminal(text).split())
