"""`chatbot chat`: one question from the command line or a pipe, or an interactive session.

The command only gathers the prompt and options; the turn itself is `turn.py`'s, shared with the
interactive session. Only typer and our light modules are imported at module level: httpx, rich
and prompt_toolkit load inside the command, so `chatbot chat --help` stays fast and never pulls in
the server side.
"""

# Annotations stay objects, not strings (no `from __future__ import annotations`): typer reads
# every command's on each start (tests/cli/test_startup.py).

import sys
from typing import Annotated

import typer

from chatbot_cli.cli.turn import (
    DEFAULT_MODEL,
    TurnOptions,
    explain,
    show_answer,
    usage_line,
)

INTERRUPTED_EXIT = 130  # 128 + SIGINT, what shells report for a Ctrl-C'd command


def compose_prompt(prompt: str | None, stdin_text: str | None) -> str:
    """The user message: the prompt, a blank line, then the piped text; either may be missing.

    Surrounding blank lines of the piped text are dropped, its inner formatting is kept as is.
    """
    parts: list[str] = []
    if prompt is not None and prompt.strip():
        parts.append(prompt.strip())
    if stdin_text is not None and stdin_text.strip():
        parts.append(stdin_text.lstrip("\r\n").rstrip())
    return "\n\n".join(parts)


def read_stdin() -> str | None:
    """Piped stdin as text, or None when stdin is a terminal (or closed)."""
    stream = sys.stdin
    if stream is None or stream.isatty():
        return None
    data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode()
    return data.decode("utf-8", errors="replace")


def chat(
    prompt: str | None = typer.Argument(
        None,
        help="What to ask. Piped stdin is appended after a blank line; with no prompt, piped "
        "stdin is the prompt; with neither, an interactive session starts.",
        show_default=False,
    ),
    model: str | None = typer.Option(
        None,
        "-m",
        "--model",
        help="Model id (default: 'default', or the continued conversation's model).",
        show_default=False,
    ),
    system: str | None = typer.Option(
        None, "-s", "--system", help="System message (replaces the one of a continued chat)."
    ),
    temperature: float | None = typer.Option(None, "--temperature", help="Sampling temperature."),
    top_p: float | None = typer.Option(None, "--top-p", help="Nucleus sampling probability."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Most tokens to generate."),
    stop: Annotated[
        list[str] | None, typer.Option("--stop", help="Stop sequence (repeat for several).")
    ] = None,
    seed: int | None = typer.Option(None, "--seed", help="Sampling seed, for repeatable answers."),
    no_stream: bool = typer.Option(
        False, "--no-stream", help="One request; print the answer when it is complete."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the whole chat.completion JSON object (for scripts)."
    ),
    usage: bool = typer.Option(False, "--usage", help="Print token counts on stderr afterwards."),
    raw: bool = typer.Option(
        False,
        "--raw",
        help="In a pipe, print the answer's control characters (escape sequences) as sent; by "
        "default they are made visible. A terminal always gets them made visible.",
    ),
    cont: bool = typer.Option(
        False, "-c", "--continue", help="Continue your latest conversation (kept on the server)."
    ),
    cid: str | None = typer.Option(
        None, "--cid", help="Continue the conversation with this id (chatbot log list)."
    ),
    session: str | None = typer.Option(
        None, "--session", help="Chat in the conversation of this name (created on first use)."
    ),
    no_log: bool = typer.Option(
        False, "--no-log", help="Do not keep this chat on the server (setting: log = false)."
    ),
    url: str | None = typer.Option(None, "--url", help="Server URL (overrides config)."),
    api_key: str | None = typer.Option(
        None, "--api-key", help="API key to send (overrides config).", show_default=False
    ),
    tools: bool | None = typer.Option(
        None,
        "--tools/--no-tools",
        help="Let the model list, add, complete, edit and delete your todos (default: on when "
        "the model's card in /v1/models lists 'tools').",
        show_default=False,
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Run tool calls that delete todos without asking."
    ),
    todos: bool = typer.Option(
        False, "--todos", help="Put your pending todos into the context (any model)."
    ),
    tool_rounds: int | None = typer.Option(
        None,
        "--tool-rounds",
        min=0,
        help="Most rounds of tool calls in one turn (setting tool_rounds, default 4).",
        show_default=False,
    ),
) -> None:
    """Chat with the model: stream an answer (Markdown on a terminal, plain text in a pipe)."""
    from chatbot_cli.cli.chat_log import ChatLog
    from chatbot_cli.cli.common import fail, handle_errors, is_tty, settings
    from chatbot_cli.client import Client
    from chatbot_cli.errors import ChatbotError

    overrides = {k: v for k, v in (("url", url), ("api_key", api_key)) if v is not None}
    s = settings(**overrides)
    opts = TurnOptions(
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        stop=list(stop or []),
        seed=seed,
        stream=not (no_stream or json_out),
        usage=usage,
        raw=raw,
    )
    try:
        stdin_text = read_stdin()
    except KeyboardInterrupt:
        raise typer.Exit(INTERRUPTED_EXIT) from None
    interactive = prompt is None and stdin_text is None
    if interactive and json_out:
        fail("--json needs a prompt (an argument or piped stdin).", 2)
    text = "" if interactive else compose_prompt(prompt, stdin_text)
    if not interactive and not text:
        fail("Empty prompt: give some text as an argument or on stdin.", 2)

    client = Client(s.url, s.api_key_value(), timeout=s.timeout)
    chat_log = ChatLog(client, s.data_dir, enabled=s.log and not no_log)
    with handle_errors():
        conversation = chat_log.open(cont=cont, cid=cid, session=session)
    opts.model = model or conversation.model or DEFAULT_MODEL
    conversation.model = opts.model
    if system is not None:
        conversation.set_system(system)

    from chatbot_cli.cli.tools import ChatTools, converse, json_output, model_supports_tools

    tty = is_tty()
    try:
        if tools is None:
            tools = model_supports_tools(client, opts.model)
        rounds = s.tool_rounds if tool_rounds is None else tool_rounds
        chat_tools = ChatTools(enabled=tools, rounds=rounds, yes=yes, todos=todos)
        if interactive:
            from chatbot_cli.cli.interactive import Session

            Session(
                client,
                conversation,
                opts,
                s.data_dir,
                chat_log=chat_log,
                tty=tty,
                tools=chat_tools,
            ).run()
            return
        conversation.add("user", text)
        opts.extra = chat_log.fields(conversation)
        with handle_errors():
            try:
                turn = converse(client, opts, conversation.messages, tty, chat_tools)
            except ChatbotError as exc:
                raise explain(client, exc) from None
        answer = turn.answer
        if answer.response is not None and not answer.interrupted:
            if json_out:
                from chatbot_cli.cli.common import print_json

                print_json(json_output(turn) if chat_tools.enabled else answer.response)
            else:
                show_answer(answer, tty, raw)
        if answer.text:
            conversation.add("assistant", answer.text)
        if usage and not answer.interrupted:
            sys.stderr.write(usage_line(answer.usage) + "\n")
        if answer.interrupted:
            sys.stderr.write("Interrupted.\n")
            raise typer.Exit(INTERRUPTED_EXIT)
    except KeyboardInterrupt:
        # Ctrl-C outside the answer itself (connecting, printing, saving): same outcome.
        sys.stderr.write("\nInterrupted.\n")
        raise typer.Exit(INTERRUPTED_EXIT) from None
    finally:
        client.close()
