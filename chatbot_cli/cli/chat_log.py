"""Where `chatbot chat` keeps its conversations: on the server, as stored turns.

Each turn is sent with `store: true` and, once the conversation has an id (the server's
`x-conversation-id` answer header), with that id, so the server adds it to the same
conversation; `--session NAME` names a new one. `-c` continues the latest conversation, `--cid`
a given one, `--session` a named one: their context (the last turn's input and answer) comes
from the server. `--no-log` or the `log = false` setting send nothing to keep.

The local file earlier versions kept the last conversation in is imported once, then removed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatbot_cli.client import Client
    from chatbot_cli.conversation import Conversation

Q_CONTEXT = """query($id: ID, $name: String) {
  conversation(id: $id, name: $name) { id name model context { role content } }
}"""
M_IMPORT = """mutation($messages: [MessageInput!]!, $model: String!) {
  importConversation(messages: $messages, model: $model) { id }
}"""


class ChatLog:
    def __init__(self, client: Client, data_dir: Path, *, enabled: bool) -> None:
        self.client = client
        self.data_dir = data_dir
        self.enabled = enabled

    def open(
        self, *, cont: bool = False, cid: str | None = None, session: str | None = None
    ) -> Conversation:
        """The conversation to chat in: a new one, or one from the server to continue."""
        from chatbot_cli.conversation import Conversation
        from chatbot_cli.errors import ConfigError, ConversationLogError, GraphQLNotFound

        if sum((cont, cid is not None, session is not None)) > 1:
            raise ConfigError("Use one of -c, --cid and --session.")
        self.import_legacy()
        if not (cont or cid or session):
            return Conversation()
        variables = {"id": cid} if cid else {"name": session} if session else {}
        try:
            found = self.client.graphql(Q_CONTEXT, variables)["conversation"]
        except GraphQLNotFound:
            if session is not None:
                return Conversation(name=session)  # created by its first turn
            if cont:
                raise ConversationLogError(
                    "No previous conversation to continue: start one without -c."
                ) from None
            raise
        return Conversation(
            messages=[{"role": m["role"], "content": m["content"]} for m in found["context"]],
            model=found["model"] or None,
            id=found["id"],
            name=found["name"],
        )

    def fields(self, conversation: Conversation) -> dict[str, Any]:
        """What a request adds to be kept in `conversation`."""
        if not self.enabled:
            return {}
        if conversation.id is not None:
            return {"store": True, "conversation": conversation.id}
        if conversation.name is not None:
            return {"store": True, "conversation_name": conversation.name}
        return {"store": True}

    def kept(self, conversation: Conversation) -> bool:
        """After an answer: note the conversation's id; True when it has just got one."""
        if not self.enabled or conversation.id is not None:
            return False
        conversation.id = self.client.conversation_id
        return conversation.id is not None

    def import_legacy(self) -> None:
        """The earlier versions' local conversation, stored on the server once, then removed.
        Any failure leaves the file for the next run and the chat goes on."""
        from chatbot_cli.conversation import legacy_path, read_legacy
        from chatbot_cli.errors import ChatbotError

        if not self.enabled:
            return
        path = legacy_path(self.data_dir)
        try:
            old = read_legacy(self.data_dir)
        except (ValueError, OSError) as exc:
            _warn(f"the old conversation file {path} is unreadable ({exc}); it was left there.")
            return
        if old is None:
            return
        if old.messages:
            variables = {"messages": old.messages, "model": old.model or "default"}
            try:
                imported = self.client.graphql(M_IMPORT, variables)["importConversation"]
            except ChatbotError as exc:
                _warn(f"could not import the old conversation file {path}: {exc.message}")
                return
            _warn(
                f"imported the conversation kept in {path} as {imported['id']} "
                "(chatbot log show); the file is removed."
            )
        path.unlink(missing_ok=True)


def _warn(text: str) -> None:
    from chatbot_cli.cli.sanitize import one_line

    sys.stderr.write(f"Note: {one_line(text)}\n")
