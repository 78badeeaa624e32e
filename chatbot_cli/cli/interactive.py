"""The interactive `chatbot chat` session: a multi-turn REPL with line editing and history.

Ctrl-C while an answer streams cancels that answer (the connection is closed, the server stops)
and returns to the prompt; Ctrl-C at the prompt clears the line; Ctrl-D or /exit leaves.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from chatbot_cli.cli.sanitize import one_line
from chatbot_cli.cli.turn import explain, show_answer, usage_line
from chatbot_cli.perms import private_dir, private_file

if TYPE_CHECKING:
    from chatbot_cli.cli.chat_log import ChatLog
    from chatbot_cli.cli.tools import ChatTools
    from chatbot_cli.cli.turn import TurnOptions
    from chatbot_cli.client import Client
    from chatbot_cli.conversation import Conversation

HISTORY_NAME = "chat_history"

HELP = """Commands:
  /exit          leave (Ctrl-D works too)
  /clear         start a new conversation (the system message stays)
  /system TEXT   set the system message (/system alone removes it)
  /model ID      switch model (/model alone shows the current one)
  /tools on|off  let the model manage your todos (/tools alone shows the state)
  /conversation  which conversation this is (chatbot log show ID shows it later)
  /help          this help
Ctrl-C cancels the answer being written; Ctrl-C at the prompt clears the line."""


class Session:
    def __init__(
        self,
        client: Client,
        conversation: Conversation,
        opts: TurnOptions,
        data_dir: Path,
        *,
        chat_log: ChatLog,
        tty: bool,
        tools: ChatTools | None = None,
    ) -> None:
        from chatbot_cli.cli.tools import ChatTools

        self.client = client
        self.conversation = conversation
        self.opts = opts
        self.data_dir = data_dir
        self.chat_log = chat_log
        self.tty = tty
        self.tools = tools or ChatTools()

    def say(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def command(self, line: str) -> bool:
        """Run a /command; True means leave the session."""
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in ("/exit", "/quit"):
            return True
        if name == "/help":
            self.say(HELP)
        elif name == "/clear":
            self.conversation.clear()
            self.say("Conversation cleared; the next message starts a new one.")
        elif name == "/system":
            self.conversation.set_system(arg or None)
            self.say(f"System message set: {arg}" if arg else "System message removed.")
        elif name == "/conversation":
            self.say(f"In {self.where()}.")
        elif name == "/model":
            problem = self.unknown_model(arg) if arg else None
            if problem:
                sys.stderr.write(f"Error: {one_line(problem)}\n")
            elif arg:
                self.opts.model = arg
                self.conversation.model = arg
            self.say(f"Model: {self.opts.model}")
        elif name == "/tools":
            if arg in ("on", "off"):
                self.tools.enabled = arg == "on"
            elif arg:
                self.say("Use /tools on or /tools off.")
            self.say(f"Todo tools: {'on' if self.tools.enabled else 'off'}")
        else:
            self.say(f"Unknown command {name}; /help lists them.")
        return False

    def unknown_model(self, model: str) -> str | None:
        """Why `model` cannot be switched to, checked with the server now rather than failing
        the next message; None if it is served ("default" always is)."""
        from chatbot_cli.cli.turn import DEFAULT_MODEL
        from chatbot_cli.errors import ChatbotError

        if model == DEFAULT_MODEL:
            return None
        try:
            ids = [str(m.get("id")) for m in self.client.models()]
        except ChatbotError as exc:
            return f"Cannot check model '{model}': {exc.message}"
        if model in ids:
            return None
        return f"The model '{model}' does not exist. Available models: {', '.join(ids) or 'none'}."

    def ask(self, text: str) -> None:
        from chatbot_cli.cli.tools import converse
        from chatbot_cli.errors import ChatbotError

        self.conversation.add("user", text)
        self.opts.extra = self.chat_log.fields(self.conversation)
        try:
            messages = self.conversation.messages
            answer = converse(self.client, self.opts, messages, self.tty, self.tools).answer
        except ChatbotError as exc:
            self.conversation.pop_last_user()
            message = one_line(explain(self.client, exc).message)
            sys.stderr.write(f"Error: {message}\n")
            sys.stderr.flush()
            return
        if not self.opts.stream and not answer.interrupted:
            show_answer(answer, self.tty, self.opts.raw)
        if answer.interrupted:
            sys.stderr.write("(answer cancelled)\n")
        if answer.text:
            # A cancelled answer stays in the conversation as far as it got: it is what was shown.
            self.conversation.add("assistant", answer.text)
        else:
            self.conversation.pop_last_user()
        if self.opts.usage and not answer.interrupted:
            sys.stderr.write(usage_line(answer.usage) + "\n")
        if answer.text and self.chat_log.kept(self.conversation):
            self.say(f"(this chat is kept as {self.where()})")

    def where(self) -> str:
        """Which conversation this is, for the banner and the note when one is first kept."""
        conv = self.conversation
        if not self.chat_log.enabled:
            return "not kept (--no-log)"
        label = f"'{one_line(conv.name)}'" if conv.name else None
        if conv.id is None:
            return f"new conversation {label}" if label else "new conversation"
        return f"conversation {label} ({conv.id})" if label else f"conversation {conv.id}"

    def run(self) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory

        history: FileHistory | InMemoryHistory
        try:
            # The history holds the user's prompts: 0600 in a 0700 dir before the first write.
            history = FileHistory(str(private_file(private_dir(self.data_dir) / HISTORY_NAME)))
        except OSError:
            history = InMemoryHistory()
        prompt: PromptSession[str] = PromptSession(history=history)
        turns = self.conversation.turns
        resumed = f", continuing {turns} earlier turn(s)" if turns else ""
        self.say(
            f"Chatting with model '{self.opts.model}' at {self.client.url} in "
            f"{self.where()}{resumed}. /help for commands, Ctrl-D to leave."
        )
        while True:
            try:
                line = prompt.prompt("> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if self.command(line):
                    break
                continue
            try:
                self.ask(line)
            except KeyboardInterrupt:
                sys.stderr.write("(cancelled)\n")
