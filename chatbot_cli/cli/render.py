"""Showing an answer as it streams in: live Markdown on a terminal, plain text everywhere else.

Live Markdown keeps re-parsing cheap on long answers: Markdown blocks that can no longer change
(everything before a blank line outside a code fence, once the next block has started) are printed
once above the live region and forgotten; only the unfinished last block is re-parsed, and only when
the refresh thread draws (at most `refresh_per_second` times), never per token. Committing finished
blocks also keeps the live region small, so answers taller than the terminal scroll normally.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import IO, TYPE_CHECKING, Any, Protocol, TextIO

from chatbot_cli.cli.sanitize import for_terminal

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live
    from rich.markdown import Markdown

REFRESH_PER_SECOND = 12
CODE_THEME = "monokai"

# A fence opener/closer: up to 3 spaces, then 3+ backticks or tildes (CommonMark).
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


class Renderer(Protocol):
    text: str

    def __enter__(self) -> Renderer: ...
    def __exit__(self, *exc: object) -> None: ...
    def feed(self, delta: str) -> None: ...


def stable_prefix_end(text: str) -> int:
    """Index in `text` up to which the Markdown blocks are finished and can be rendered once.

    A block is finished at a blank line outside a fenced code block, once the following block has
    started on an unindented line (an indented one may still be a list item's continuation).
    """
    end = 0
    fence: str | None = None
    pos = 0
    after_blank = False
    while True:
        nl = text.find("\n", pos)
        line = text[pos:] if nl < 0 else text[pos:nl]
        if fence is None and after_blank and line.strip() and not line[0].isspace():
            end = pos
        if nl < 0:
            # The last, unfinished line only matters as "the next block has started" above.
            break
        match = _FENCE.match(line)
        if fence is None:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                fence = match.group(1)
            after_blank = not line.strip()
        elif (
            match
            and match.group(1)[0] == fence[0]
            and len(match.group(1)) >= len(fence)
            and not match.group(2).strip()
        ):
            fence = None
            after_blank = False
        pos = nl + 1
    return end


class PlainRenderer:
    """Plain text, written and flushed as it arrives; ends with a newline so shells stay tidy.

    Control characters are made visible (`sanitize.for_terminal`) unless `raw`: a pipe often
    ends on a terminal anyway (`| less -R`, `| tee`). `text` is always what the model sent.
    Nothing at all is written when nothing arrived, so an error leaves stdout empty."""

    def __init__(self, out: TextIO, *, raw: bool = False) -> None:
        self.out = out
        self.raw = raw
        self.text = ""

    def __enter__(self) -> PlainRenderer:
        return self

    def feed(self, delta: str) -> None:
        self.text += delta
        self.out.write(delta if self.raw else for_terminal(delta))
        self.out.flush()

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def finish(self) -> None:
        if self.text and not self.text.endswith("\n"):
            self.out.write("\n")
        self.out.flush()


def markdown(text: str) -> Markdown:
    from rich.markdown import Markdown

    # hyperlinks=False: a link shows its target, `text (url)`; as a terminal hyperlink (OSC 8)
    # the target is hidden behind the text, which is what a prompt injection would want.
    return Markdown(text, code_theme=CODE_THEME, hyperlinks=False)


class _Tail:
    """The live region: the unfinished last block, parsed at most once per distinct text."""

    def __init__(self) -> None:
        self.text = ""
        self._parsed_for: str | None = None
        self._parsed: Markdown | None = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.text  # one read: the main thread may replace it while we draw
        if not text.strip():
            return
        if text != self._parsed_for:
            self._parsed = markdown(text)
            self._parsed_for = text
        assert self._parsed is not None
        yield self._parsed


class MarkdownRenderer:
    """Rich `Live` Markdown; the final rendering stays on screen when the answer ends.

    `text` is what the model sent; what is drawn has its control characters made visible."""

    def __init__(self, console: Console, refresh_per_second: float = REFRESH_PER_SECOND) -> None:
        self.console = console
        self.refresh_per_second = refresh_per_second
        self.text = ""
        self._shown = ""  # self.text made safe for the terminal
        self._committed = 0  # chars of self._shown already printed above the live region
        self._tail = _Tail()
        self._live: Live | None = None
        self._echo: _EchoOff | None = None
        self.parses = 0  # blocks committed; lets tests check we do not re-parse everything

    def __enter__(self) -> MarkdownRenderer:
        from rich.live import Live

        self._echo = _EchoOff(self.console.file)
        self._echo.__enter__()
        self._live = Live(
            self._tail,
            console=self.console,
            refresh_per_second=self.refresh_per_second,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        return self

    def feed(self, delta: str) -> None:
        self.text += delta
        delta = for_terminal(delta)
        self._shown += delta
        pending = self._shown[self._committed :]
        # A block can only become finished when a line ends or the next line gets its first
        # character; skipping the scan otherwise keeps long code blocks linear.
        line_start = pending.rfind("\n") + 1
        head = pending[line_start : max(line_start, len(pending) - len(delta))]
        cut = stable_prefix_end(pending) if "\n" in delta or not head.strip() else 0
        if cut:
            self._commit(pending[:cut])
            self._committed += cut
            pending = pending[cut:]
        self._tail.text = pending

    def _commit(self, block: str) -> None:
        self.parses += 1
        # Printing while Live runs puts the output above the live region.
        self.console.print(markdown(block.rstrip("\n")))
        self.console.print()

    def __exit__(self, *exc: object) -> None:
        try:
            if self._live is not None:
                # stop() draws the tail one last time, in full even if taller than the screen.
                self._live.stop()
                self._live = None
        finally:
            if self._echo is not None:
                self._echo.__exit__()
                self._echo = None


class _EchoOff:
    """The terminal's echo off while the live region is on screen.

    Rich pads every line of the region to the full width and moves the cursor up by the number
    of lines it drew to redraw it. Anything the terminal echoes in between (`^C` for Ctrl-C,
    keys typed ahead) lands after a full-width line, wraps, and moves the cursor a line down:
    the next redraw then starts a line too low and the last line stays on screen twice. Typed
    keys are still read later (by the REPL's next prompt, or the shell); only their echo waits.
    """

    def __init__(self, out: IO[str]) -> None:
        self._fd: int | None = None
        self._saved: list[Any] | None = None
        try:
            import termios

            fd = out.fileno()
            if os.isatty(fd):
                self._saved = termios.tcgetattr(fd)
                self._fd = fd
        except (ImportError, OSError, ValueError):
            pass  # not a terminal (or no termios): nothing is echoed into our output

    def __enter__(self) -> None:
        if self._fd is None or self._saved is None:
            return
        import termios

        quiet = list(self._saved)
        quiet[3] &= ~termios.ECHO  # lflag
        with contextlib.suppress(termios.error):
            termios.tcsetattr(self._fd, termios.TCSANOW, quiet)

    def __exit__(self, *exc: object) -> None:
        if self._fd is None or self._saved is None:
            return
        import termios

        # TCSANOW, not TCSAFLUSH: keys typed meanwhile stay in the input queue.
        with contextlib.suppress(termios.error):
            termios.tcsetattr(self._fd, termios.TCSANOW, self._saved)


def print_markdown(console: Console, text: str) -> None:
    """A finished answer (--no-stream) on a terminal."""
    console.print(markdown(for_terminal(text)))


def make_console(out: TextIO) -> Console:
    from rich.console import Console

    return Console(file=out)
