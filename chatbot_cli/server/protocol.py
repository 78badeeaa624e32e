"""Wire models of the OpenAI-compatible API (pydantic only, no logic beyond shape checks); those
of tool calls and structured output are in `protocol_tools.py`.

Validation errors carry their location (e.g. `messages[0].role`), which the server's
RequestValidationError handler turns into the `param` of a 400 `invalid_request_error` envelope.
Limits that depend on settings (max_tokens_limit, max_messages, max_prompt_chars) are checked in
`serving.py`, where the settings are known.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chatbot_cli.server.protocol_tools import (
    NamedToolChoice,
    ResponseFormat,
    Tool,
    ToolCall,
    ToolCallDelta,
)


def _invalid(message: str) -> PydanticCustomError:
    # A custom error type keeps pydantic's "Value error, " prefix out of the client's message.
    return PydanticCustomError("invalid_value", message)


def _join_text_parts(value: Any) -> Any:
    # SDKs may send content as a list of typed parts; only text parts can reach a text model.
    if isinstance(value, list):
        texts: list[str] = []
        for i, part in enumerate(value):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise _invalid(f"content part {i} must be an object with type 'text'")
            text = part.get("text")
            if not isinstance(text, str):
                raise _invalid(f"content part {i} needs a string 'text'")
            texts.append(text)
        return _valid_unicode("".join(texts))
    if not isinstance(value, str):
        raise _invalid("content must be a string or a list of text parts")
    return _valid_unicode(value)


def _valid_unicode(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"); the engine cannot encode them and would fail
    # with a 500, so they are the client's error.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid("text contains invalid Unicode (a lone surrogate)") from None
    return value


def _role_alias(value: Any) -> Any:
    # Newer OpenAI SDKs send "developer" where older ones sent "system".
    return "system" if value == "developer" else value


# The documented schemas say what the validators really accept (a string or a list of parts),
# so schema-driven clients and fuzzers agree with the server.
_TEXT_PART = {
    "type": "object",
    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
    "required": ["type", "text"],
}
MessageContent = Annotated[
    str,
    BeforeValidator(_join_text_parts),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": _TEXT_PART}]}),
    Field(description='Text, or a list of `{"type": "text", "text": ...}` parts (joined).'),
]


MAX_MODEL_ID = 256

_MetadataKey = Annotated[str, Field(max_length=64), AfterValidator(_valid_unicode)]
_MetadataValue = Annotated[str, Field(max_length=512), AfterValidator(_valid_unicode)]
# OpenAI's rules for metadata: at most 16 pairs of strings, keys 64 characters, values 512.
Metadata = Annotated[
    dict[_MetadataKey, _MetadataValue],
    Field(max_length=16, description="Up to 16 string pairs (keys 64 characters, values 512)."),
]


def _integral(value: Any) -> Any:
    # JSON Schema's "integer" includes 390.0; strict mode alone would refuse it.
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# Bounds go before the validator, so the JSON schema shows them as minimum/maximum.
_NonNegativeInt = Annotated[int, Field(ge=0), BeforeValidator(_integral)]
_ChoiceCount = Annotated[int, Field(ge=1, le=8), BeforeValidator(_integral)]
_Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1), BeforeValidator(_integral)]


# Strict: lax mode would turn `false` into 0.0 or "1" into 1, accepting what the documented schema
# forbids (found by schemathesis).
_STRICT = ConfigDict(extra="ignore", strict=True)


class ChatMessage(BaseModel):
    model_config = _STRICT

    role: Annotated[
        Literal["system", "user", "assistant", "tool"], BeforeValidator(_role_alias)
    ] = Field(description="Who wrote the message ('developer' is accepted as 'system').")
    # Before `content`, so that its check sees them.
    tool_calls: list[ToolCall] | None = Field(
        None, max_length=128, description="The calls an assistant message made."
    )
    tool_call_id: str | None = Field(
        None, max_length=256, description="On a `tool` message: the call it answers."
    )
    content: MessageContent | None = Field(None, validate_default=True)
    name: str | None = Field(None, max_length=256, description="Not used.")

    @field_validator("content")
    @classmethod
    def _content_given(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and not (
            info.data.get("role") == "assistant" and info.data.get("tool_calls")
        ):
            raise _invalid("content is required (it may be null only beside tool_calls)")
        return value

    @model_validator(mode="after")
    def _shape(self) -> ChatMessage:
        if self.role == "tool":
            if not self.tool_call_id:
                raise _invalid("a tool message needs the 'tool_call_id' of the call it answers")
        elif self.tool_call_id is not None:
            raise _invalid("only a tool message has a 'tool_call_id'")
        if self.tool_calls and self.role != "assistant":
            raise _invalid("only an assistant message has 'tool_calls'")
        return self

    @property
    def text(self) -> str:
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = _STRICT

    include_usage: bool = Field(
        False, description="Send a final chunk with `usage` and an empty `choices` list."
    )


class ChatCompletionRequest(BaseModel):
    """A chat completion request. Unknown fields are ignored, as OpenAI SDKs send many."""

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "model": "default",
                    "messages": [{"role": "user", "content": "Tell me a joke"}],
                    "max_tokens": 64,
                    "temperature": 0.7,
                    "stream": False,
                }
            ]
        },
    )

    model: str = Field(
        min_length=1, max_length=MAX_MODEL_ID, description="A model id from /v1/models."
    )
    messages: list[ChatMessage] = Field(min_length=1, description="The conversation so far.")
    max_tokens: _NonNegativeInt | None = Field(
        None,
        description="Most tokens to generate. 0 or absent means the server default (until the "
        "model stops or the context is full).",
    )
    max_completion_tokens: _NonNegativeInt | None = Field(
        None, description="Newer name of `max_tokens`; used when `max_tokens` is absent."
    )
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    n: _ChoiceCount = Field(1, description="How many independent choices to generate.")
    stream: bool = Field(False, description="Send server-sent events instead of one JSON body.")
    stream_options: StreamOptions | None = None
    stop: Annotated[
        list[str] | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    {
                        "type": "array",
                        "items": {"type": "string", "minLength": 1},
                        "maxItems": 4,
                    },
                    {"type": "null"},
                ]
            }
        ),
    ] = Field(
        None, max_length=4, description="Up to 4 strings that end generation (or one string)."
    )
    seed: _Seed | None = Field(None, description="Same seed, same text; choice i uses seed + i.")
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    response_format: ResponseFormat | None = Field(
        None,
        description="`text`, `json_object` (any JSON object) or `json_schema` (output that "
        "validates against the schema).",
    )
    tools: list[Tool] | None = Field(
        None, max_length=128, description="Functions the model may call."
    )
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = Field(
        None, description="`auto` (the default with tools), `none`, `required` or one function."
    )
    parallel_tool_calls: bool | None = Field(
        None, description="Allow more than one call in an answer (default true)."
    )
    user: str | None = Field(None, max_length=256, description="End-user id (not used).")
    store: bool = Field(
        False,
        description="Store the request and the answer for your key (GET /v1/chat/completions); "
        "a stream is stored when it ends, also when cut.",
    )
    metadata: Metadata | None = Field(None, description="Stored with the completion.")
    conversation: str | None = Field(
        None,
        max_length=40,
        description="With store: the conversation this turn continues (the `x-conversation-id` "
        "header of an earlier answer); a new one when absent.",
    )
    conversation_name: str | None = Field(
        None, max_length=100, description="With store, for a new conversation: its session name."
    )

    @model_validator(mode="before")
    @classmethod
    def _must_be_object(cls, data: Any) -> Any:
        if isinstance(data, bytes | bytearray | str):
            raise _invalid(
                "the body must be a JSON object sent with Content-Type: application/json"
            )
        if not isinstance(data, dict):
            raise _invalid("the body must be a JSON object")
        return data

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("stop")
    @classmethod
    def _stop_not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if any(s == "" for s in value):
                raise _invalid("stop strings must not be empty")
            for s in value:
                _valid_unicode(s)
        return value

    @property
    def token_limit(self) -> int | None:
        """The effective max_tokens; 0 (as in the seed document's example) means no limit."""
        value = self.max_tokens if self.max_tokens is not None else self.max_completion_tokens
        return value or None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


# --- responses -------------------------------------------------------------------------------


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCall] | None = Field(None, description="Present when calls were made.")


FinishReason = Literal["stop", "length", "tool_calls"]


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: FinishReason | None


class ChatCompletion(BaseModel):
    id: str = Field(examples=["chatcmpl-3f1c2a9b8e7d4c6f"])
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(description="Unix time in seconds.")
    model: str
    choices: list[Choice]
    usage: Usage


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: Delta
    finish_reason: FinishReason | None


class ChatCompletionChunk(BaseModel):
    """One `data:` event of a stream. The stream ends with the line `data:[DONE]`."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    capabilities: list[str] = Field(
        default_factory=list,
        description="What requests to this model may use beyond chat: 'tools' (tools and "
        "tool_choice) and 'response_format' (json_object, json_schema). `chatbot chat` turns "
        "its todo tools on by default where 'tools' is listed.",
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """The OpenAI error envelope every /v1 error uses."""

    error: ErrorDetail
