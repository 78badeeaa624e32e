"""Rendering of streamed answers: live Markdown on a terminal, plain text in pipes."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from chatbot_cli.cli import render
from chatbot_cli.cli.render import MarkdownRenderer, PlainRenderer, stable_prefix_end

ANSI_BOLD = "\x1b[1m"


def terminal_console(buf: io.StringIO) -> Console:
    # no_color=False overrides the NO_COLOR the test environment sets, so highlighting shows.
    return Console(
        file=buf, force_terminal=True, color_system="truecolor", no_color=False, width=72
    )


def feed_in_pieces(renderer: MarkdownRenderer | PlainRenderer, text: str, size: int = 3) -> None:
    for i in range(0, len(text), size):
        renderer.feed(text[i : i + size])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("one paragraph", ""),
        ("one paragraph\n\n", ""),  # the next block has not started: the first may still grow
        ("para one\n\npara two", "para one\n\n"),
        ("a\n\nb\n\nc", "a\n\nb\n\n"),
        ("- item\n\n  continued", ""),  # indented: may be the item's continuation
        ("```\ncode\n\nmore", ""),  # blank line inside an open fence is not a boundary
        ("```\ncode\n\nmore\n```\n\nafter", "```\ncode\n\nmore\n```\n\n"),
        ("~~~~\nx\n~~~\n\ny", ""),  # a shorter closing fence does not close
        ("```py\nx\n```\n\n# Title", "```py\nx\n```\n\n"),
    ],
)
def test_stable_prefix_end(text: str, expected: str) -> None:
    assert text[: stable_prefix_end(text)] == expected


def test_markdown_renderer_renders_bold_lists_and_code_and_keeps_final_text() -> None:
    buf = io.StringIO()
    text = (
        "Hello **bold** and *italic*.\n\n- first\n- second\n\n"
        "```python\ndef f():\n    return 1\n```\n\nThe **end**."
    )
    with MarkdownRenderer(terminal_console(buf), refresh_per_second=50) as renderer:
        feed_in_pieces(renderer, text)
    out = buf.getvalue()
    assert renderer.text == text
    assert ANSI_BOLD + "bold" in out
    assert "**" not in out  # emphasis markers are consumed, not shown
    assert "•" in out  # list bullets
    assert "\x1b[38;2;" in out  # the code block is syntax-highlighted (truecolor escapes)
    assert "return" in out
    # The last block stays on screen after the live display stops.
    last_frame = out.rsplit("\x1b[2K", 1)[-1]
    assert "The " in last_frame and ANSI_BOLD + "end" in last_frame


def test_markdown_renderer_parses_finished_blocks_once() -> None:
    calls = 0
    real = render.markdown

    def counting(text: str):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real(text)

    render.markdown = counting  # type: ignore[assignment]
    try:
        buf = io.StringIO()
        paragraphs = [f"Paragraph {i} with a few words of **text**." for i in range(40)]
        text = "\n\n".join(paragraphs)
        with MarkdownRenderer(terminal_console(buf), refresh_per_second=10) as renderer:
            feed_in_pieces(renderer, text, size=2)  # ~900 tokens, fed as fast as possible
    finally:
        render.markdown = real  # type: ignore[assignment]
    assert renderer.parses == 39  # every finished paragraph committed exactly once
    # Tail parses only happen when the refresh thread draws, not per token.
    assert calls < 39 + 50, calls
    for i in (0, 20, 39):
        assert f"Paragraph {i} with" in buf.getvalue()


def test_markdown_refresh_is_bounded_for_slow_streams() -> None:
    buf = io.StringIO()
    with MarkdownRenderer(terminal_console(buf), refresh_per_second=10) as renderer:
        start = time.monotonic()
        while time.monotonic() - start < 0.5:
            renderer.feed("word ")
            time.sleep(0.002)
    # Each refresh erases the previous frame with one "erase line" per line; at 10 Hz for 0.5 s
    # that is at most a handful (plus one final draw), however many tokens arrived.
    frames = buf.getvalue().count("\r\x1b[2K")
    assert frames <= 10, frames


def test_plain_renderer_writes_raw_text_and_one_newline() -> None:
    buf = io.StringIO()
    with PlainRenderer(buf) as renderer:
        feed_in_pieces(renderer, "Hello **bold**")
    assert buf.getvalue() == "Hello **bold**\n"

    buf = io.StringIO()
    with PlainRenderer(buf) as renderer:
        renderer.feed("ends with newline\n")
    assert buf.getvalue() == "ends with newline\n"


def test_plain_renderer_flushes_each_piece() -> None:
    class Recorder(io.StringIO):
        flushed: list[str] = []

        def flush(self) -> None:
            self.flushed.append(self.getvalue())

    out = Recorder()
    renderer = PlainRenderer(out)
    renderer.feed("a")
    renderer.feed("b")
    assert out.flushed[:2] == ["a", "ab"]


def test_print_markdown_for_finished_answers() -> None:
    buf = io.StringIO()
    render.print_markdown(terminal_console(buf), "# Title\n\nSome *emphasis*.")
    out = buf.getvalue()
    assert "Title" in out and "\x1b[3memphasis" in out and "#" not in out


# Model output that would drive the terminal: clear screen, title, hidden link, clipboard.
HOSTILE = (
    "Hi\x1b[2J\x1b[H there \x1b]0;pwned\x07\n\n"
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\ and \x1b]52;c;cm0gLXJm\x07 end\n"
)
MODEL_SEQUENCES = ("\x1b[2J", "\x1b[H", "\x1b]0;", "\x1b]8;;http", "\x1b]52;", "\x07")


def test_markdown_renderer_shows_control_sequences_as_text_and_keeps_the_raw_answer() -> None:
    buf = io.StringIO()
    with MarkdownRenderer(terminal_console(buf), refresh_per_second=100) as renderer:
        feed_in_pieces(renderer, HOSTILE, size=1)  # every sequence split across chunks
    out = buf.getvalue()
    for seq in MODEL_SEQUENCES:
        assert seq not in out, seq
    assert "␛[2J" in out and "␛]52;c;" in out
    assert renderer.text == HOSTILE  # the conversation keeps what the model sent


def test_print_markdown_shows_control_sequences_as_text() -> None:
    buf = io.StringIO()
    render.print_markdown(terminal_console(buf), HOSTILE)
    out = buf.getvalue()
    for seq in MODEL_SEQUENCES:
        assert seq not in out, seq
    assert "␛]0;pwned␇" in out


def test_plain_renderer_shows_control_sequences_unless_raw() -> None:
    buf = io.StringIO()
    with PlainRenderer(buf) as renderer:
        feed_in_pieces(renderer, HOSTILE, size=2)
    assert "\x1b" not in buf.getvalue() and "␛[2J" in buf.getvalue()
    assert renderer.text == HOSTILE

    buf = io.StringIO()
    with PlainRenderer(buf, raw=True) as renderer:
        feed_in_pieces(renderer, HOSTILE, size=2)
    assert buf.getvalue() == HOSTILE


def test_markdown_links_show_their_target() -> None:
    buf = io.StringIO()
    render.print_markdown(terminal_console(buf), "Read [the docs](http://evil.example/x).")
    out = buf.getvalue()
    assert "\x1b]8;" not in out  # no terminal hyperlink hiding where it goes
    assert "http://evil.example/x" in out
