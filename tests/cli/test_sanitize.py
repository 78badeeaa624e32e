"""Model text made safe for a terminal: every control character but newline and tab visible."""

from __future__ import annotations

import pytest

from chatbot_cli.cli.sanitize import for_terminal, one_line

# What a prompt injection would make a model print (issue 22, item 3).
HOSTILE = {
    "clear screen": "\x1b[2J\x1b[H",
    "window title": "\x1b]0;pwned\x07",
    "hidden link": "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "clipboard": "\x1b]52;c;cm0gLXJmIH4=\x07",
    "8-bit CSI": "\x9b2J",
    "overwrite": "safe\rEVIL",
    "backspace": "abc\x08\x08\x08xyz",
    "DCS": "\x1bP1$r0m\x1b\\",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_no_control_character_survives(text: str) -> None:
    out = for_terminal(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in out), repr(out)


def test_escape_sequences_become_visible_text() -> None:
    assert for_terminal("a\x1b[2Jb") == "a␛[2Jb"
    assert for_terminal("\x1b]0;title\x07") == "␛]0;title␇"
    assert for_terminal("ok\r\n") == "ok\n"  # CR dropped: no line can overwrite another


def test_newline_tab_and_unicode_pass_unchanged() -> None:
    text = "line one\n\tindented — ünïcödé 日本 🙂 **md**"
    assert for_terminal(text) is text  # nothing to do: the same object, no copy


def test_a_sequence_split_across_chunks_is_caught_in_each_piece() -> None:
    whole = HOSTILE["hidden link"]
    pieces = "".join(for_terminal(whole[i : i + 1]) for i in range(len(whole)))
    assert pieces == for_terminal(whole)
    assert "\x1b" not in pieces


def test_one_line() -> None:
    assert one_line("bad\x1b[31m model\n  id") == "bad␛[31m model id"
