"""Wire models of OpenAI's stored chat completions (GET/POST/DELETE /v1/chat/completions/...),
in the shapes the openai SDK reads: `chat.completions.list/retrieve/update/delete` and
`chat.completions.messages.list`, with its cursor pages (`data`, `first_id`, `last_id`,
`has_more`; the next page is `after=<last id>`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot_cli.server.protocol import Metadata, Usage


class StoredMessage(BaseModel):
    id: str = Field(description="`<completion id>-<index>`: the message's place in the request.")
    role: str
    content: str
    name: str | None = None
    content_parts: list[dict[str, Any]] | None = None


class StoredChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class StoredChoice(BaseModel):
    index: int
    message: StoredChoiceMessage
    finish_reason: Literal["stop", "length"] | None = Field(
        description="null for a choice that was cut before it finished."
    )


class StoredCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[StoredChoice]
    usage: Usage
    metadata: dict[str, str]
    conversation_id: str = Field(description="The conversation this turn belongs to.")
    complete: bool = Field(
        description="false when the answer was cut (client gone, error, shutdown): stored as "
        "far as it got."
    )


class StoredCompletionList(BaseModel):
    object: Literal["list"] = "list"
    data: list[StoredCompletion]
    first_id: str | None
    last_id: str | None
    has_more: bool


class StoredMessageList(BaseModel):
    object: Literal["list"] = "list"
    data: list[StoredMessage]
    first_id: str | None
    last_id: str | None
    has_more: bool


class StoredCompletionDeleted(BaseModel):
    object: Literal["chat.completion.deleted"] = "chat.completion.deleted"
    id: str
    deleted: bool


class StoredCompletionUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    metadata: Metadata | None = Field(description="Replaces the stored metadata (null clears it).")
