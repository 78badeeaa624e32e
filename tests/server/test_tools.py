"""server/tools.py and server/tool_stream.py without a model: the derived schema,
the conversation as text, and the streaming reader split at every possible point."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from chatbot_cli.engine.base import GRAMMAR, NATIVE, PLAIN, ModelInfo
from chatbot_cli.errors import InvalidRequest
from chatbot_cli.server.protocol import ChatCompletionRequest
from chatbot_cli.server.tool_stream import ToolCallReader
from chatbot_cli.server.tools import plan_request, tool_schema
from chatbot_cli.toolcalls import merge_tool_call_deltas

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add_todo",
        "parameters": {
            "type": "object",
            "properties": {"item": {"$ref": "#/$defs/Item"}},
            "required": ["item"],
            "$defs": {"Item": {"type": "object", "properties": {"title": {"type": "string"}}}},
        },
    },
}


def request(**kw: Any) -> ChatCompletionRequest:
    base: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return ChatCompletionRequest.model_validate({**base, **kw})


def info(structured: str) -> ModelInfo:
    return ModelInfo("m", None, None, None, structured=structured)


def test_plain_engines_refuse_and_native_ones_get_everything() -> None:
    body = request(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)
    with pytest.raises(InvalidRequest) as caught:
        plan_request(body, info(PLAIN))
    assert caught.value.param == "tools"
    native = plan_request(body, info(NATIVE))
    assert native.extra["tools"][0]["function"]["name"] == "get_weather"
    assert native.extra["tool_choice"] == "required"
    assert native.extra["parallel_tool_calls"] is False
    assert native.reader is None
    assert plan_request(body, None).extra == native.extra  # an upstream without a model list


def test_grammar_plan_describes_tools_and_writes_history_as_text() -> None:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}  # fmt: skip
    body = request(
        tools=[WEATHER],
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
    )
    plan = plan_request(body, info(GRAMMAR))
    assert plan.reader is not None
    roles = [m["role"] for m in plan.messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert (
        "get_weather" in plan.messages[0]["content"] and "Be brief." in plan.messages[0]["content"]
    )
    assert json.loads(plan.messages[2]["content"]) == {
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    }
    assert "sunny" in plan.messages[3]["content"] and "call_1" in plan.messages[3]["content"]
    assert all(isinstance(m["content"], str) for m in plan.messages)
    assert plan.extra["response_format"]["type"] == "json_schema"


def test_derived_schema_accepts_calls_and_refuses_what_is_not_one() -> None:
    body = request(tools=[WEATHER, ADD])
    schema = tool_schema(body)
    jsonschema.Draft202012Validator.check_schema(schema)
    ok = [
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"tool_calls": [{"name": "add_todo", "arguments": {"item": {"title": "milk"}}}]},
        {"content": "hello"},
    ]
    bad = [
        {"tool_calls": []},
        {"tool_calls": [{"name": "nope", "arguments": {}}]},
        {"tool_calls": [{"name": "get_weather", "arguments": {"days": 2}}]},
        {"tool_calls": [{"name": "add_todo", "arguments": {"item": {"title": 5}}}]},
        {"content": 5},
    ]
    for value in ok:
        jsonschema.validate(value, schema)
    for value in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(value, schema)
    forced = tool_schema(request(tools=[WEATHER, ADD], tool_choice="required"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"content": "hello"}, forced)
    named = tool_schema(
        request(
            tools=[WEATHER, ADD], tool_choice={"type": "function", "function": {"name": "add_todo"}}
        )
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(ok[0], named)
    single = tool_schema(
        request(tools=[WEATHER], parallel_tool_calls=False, tool_choice="required")
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"tool_calls": ok[0]["tool_calls"] * 2}, single)


OUTPUTS = [
    '{ "tool_calls" : [ {"name": "get_weather", "arguments": {"city": "Pa\\"ris", "d": [1, '
    '{"x": null}]}}, {"name":"add_todo","arguments":{ "a" : true } } ] }',
    '{"tool_calls": [{"name": "f", "arguments": 12}]}',
    '{"content": "h\\u00e9llo \\ud83d\\ude00 \\"q\\" \\\\ \\n end"}',
    '{"content": {"a": [1, 2], "b": "x"} }',
]


@pytest.mark.parametrize("text", OUTPUTS)
def test_reader_gives_the_same_at_every_split(text: str) -> None:
    expected = json.loads(text)
    for step in range(1, len(text) + 1):
        reader = ToolCallReader()
        calls: list[dict[str, Any]] = []
        content = ""
        firsts: dict[int, dict[str, Any]] = {}
        for i in range(0, len(text), step):
            out = reader.feed(text[i : i + step])
            content += out.content
            for delta in out.tool_calls:
                if "id" in delta:
                    assert delta["index"] not in firsts
                    assert delta["type"] == "function" and delta["function"]["arguments"] == ""
                    firsts[delta["index"]] = delta
                else:
                    assert set(delta) == {"index", "function"}
                    assert set(delta["function"]) == {"arguments"}
                    assert delta["index"] in firsts  # the name always comes first
            merge_tool_call_deltas(calls, out.tool_calls)
        assert reader.closed
        assert calls == reader.tool_calls()
        if "tool_calls" in expected:
            got = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]
            assert got == [(c["name"], c["arguments"]) for c in expected["tool_calls"]]
            assert content == ""
        elif isinstance(expected["content"], str):
            assert content == expected["content"] and not calls
        else:
            assert json.loads(content) == expected["content"]


def test_ids_are_unique_call_ids() -> None:
    reader = ToolCallReader()
    reader.feed(OUTPUTS[0])
    ids = [c["id"] for c in reader.tool_calls()]
    assert len(set(ids)) == 2 and all(i.startswith("call_") for i in ids)


def test_a_call_goes_out_only_once_whole_so_a_cut_one_never_does() -> None:
    # SmolLM2 under the grammar can repeat one array item until max_tokens ends the output.
    reader = ToolCallReader()
    first = '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}'
    assert reader.feed(first).tool_calls == []  # the arguments closed, the call not yet
    released = reader.feed("}, ").tool_calls
    assert [d["function"] for d in released] == [
        {"name": "get_weather", "arguments": ""},
        {"arguments": '{"city": "Paris"}'},
    ]
    cut = '{"name": "add_todo", "arguments": {"tags": ["a", "a", "a", "a'
    assert reader.feed(cut).tool_calls == []
    assert [c["function"]["name"] for c in reader.tool_calls()] == ["get_weather"]
