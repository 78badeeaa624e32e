"""server/tool_checks.py: each cross-field rule of a request with tools or a response format is a
400 naming the field, and the requests that keep the rules pass."""

from __future__ import annotations

from typing import Any

import pytest

from chatbot_cli.errors import InvalidRequest
from chatbot_cli.server.protocol import ChatCompletionRequest
from chatbot_cli.server.tool_checks import check_request

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}


def request(**kw: Any) -> ChatCompletionRequest:
    base: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return ChatCompletionRequest.model_validate({**base, **kw})


def refused(param: str, **kw: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_request(request(**kw))
    assert caught.value.param == param, caught.value.message


def test_bad_combinations_are_400_with_param() -> None:
    refused("tool_choice.function.name", tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "nope"}})  # fmt: skip
    refused("tool_choice", tool_choice="required")
    bad = {**WEATHER, "function": {**WEATHER["function"], "parameters": {"type": 12}}}
    refused("tools[0].function.parameters", tools=[bad])
    not_object = {**WEATHER, "function": {"name": "f", "parameters": {"type": "string"}}}
    refused("tools[0].function.parameters", tools=[not_object])
    refused("tools[1].function.name", tools=[WEATHER, WEATHER])
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"minLength": "3"}}}
    refused("response_format.json_schema.schema", response_format=fmt)
    for ref in ("https://example.invalid/s.json", "#/$defs/Nope"):
        remote = {"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"x": {"$ref": ref}}}}}  # fmt: skip
        refused("tools[0].function.parameters", tools=[remote])
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"}}  # fmt: skip
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
    ]
    refused("messages[2].tool_call_id", messages=messages)
    messages[2]["tool_call_id"] = "call_1"
    check_request(request(messages=messages))  # the matching answer is fine
    refused("messages[3].tool_call_id", messages=[*messages, messages[2]])  # answered twice
