"""Wire models of tool calls and structured output (issue 19), in OpenAI's shapes: the tools a
request offers and its `tool_choice`, the calls an assistant message carries, `response_format`,
and the streamed call deltas. `protocol.py` builds the request and the responses from them; the
rules that span fields (a `tool_choice` naming a given tool, valid JSON Schemas, tool messages
answering a call) are checked in `tool_checks.py`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

# Strict, as every request model in protocol.py: lax mode would accept what the documented
# schema forbids.
_STRICT = ConfigDict(extra="ignore", strict=True)

_FUNCTION_NAME = r"^[a-zA-Z0-9_-]{1,64}$"


class FunctionCall(BaseModel):
    model_config = _STRICT

    name: str = Field(pattern=_FUNCTION_NAME)
    arguments: str = Field(description="The arguments as a JSON text.")


class ToolCall(BaseModel):
    model_config = _STRICT

    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCall


class FunctionDefinition(BaseModel):
    model_config = _STRICT

    name: str = Field(pattern=_FUNCTION_NAME, description="Letters, digits, _ and -.")
    description: str | None = Field(None, max_length=8192)
    parameters: dict[str, Any] | None = Field(
        None, description="A JSON Schema of the arguments object (absent: no arguments)."
    )
    strict: bool | None = None


class Tool(BaseModel):
    model_config = _STRICT

    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(BaseModel):
    model_config = _STRICT

    name: str


class NamedToolChoice(BaseModel):
    model_config = _STRICT

    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)

    name: str = Field("response", max_length=64)
    description: str | None = None
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    model_config = _STRICT

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            # A custom error type keeps pydantic's "Value error, " prefix out of the message.
            raise PydanticCustomError(
                "invalid_value", "type 'json_schema' needs a 'json_schema' object with a 'schema'"
            )
        return self


# --- in responses -------------------------------------------------------------------------------


class FunctionCallDelta(BaseModel):
    name: str | None = None
    arguments: str


class ToolCallDelta(BaseModel):
    """The first delta of a call carries its index, id, type and name (arguments ""); the
    next ones carry only the index and a fragment of the arguments."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta
