"""The tool-call loop of `chatbot chat` (cli/tools.py) against a stub client: rounds, the
round limit, confirmation of destructive calls, `--json`, `--todos` and the `--tools` default."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chatbot_cli.cli.tools import ChatTools, converse, json_output, model_supports_tools
from chatbot_cli.cli.turn import TurnOptions
from chatbot_cli.errors import Unreachable
from chatbot_cli.toolcalls import merge_tool_call_deltas

TODO = {"id": 7, "title": "Buy milk", "completed": False, "due": None, "priority": "NONE",
        "tags": [], "project": None, "notes": None}  # fmt: skip


def call(name: str, args: dict[str, Any], id_: str = "c1") -> dict[str, Any]:
    return {
        "id": id_,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args)},
    }


class StubClient:
    """Answers chat requests from a list of replies (tool calls or text) and GraphQL from a
    table; records every request body and GraphQL variables."""

    def __init__(self, replies: list[list[dict[str, Any]] | str], cards: Any = None) -> None:
        self.replies = replies
        self.bodies: list[dict[str, Any]] = []
        self.graphql_calls: list[dict[str, Any]] = []
        self.cards = cards

    def _reply(self, body: dict[str, Any]) -> list[dict[str, Any]] | str:
        self.bodies.append(json.loads(json.dumps(body)))
        return self.replies[min(len(self.bodies), len(self.replies)) - 1]

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        reply = self._reply(body)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply if isinstance(reply, str) else None,
        }
        if not isinstance(reply, str):
            message["tool_calls"] = reply
        return {"object": "chat.completion", "choices": [{"index": 0, "message": message,
                "finish_reason": "stop"}]}  # fmt: skip

    def stream_chat(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        reply = self._reply(body)
        if isinstance(reply, str):
            yield {"choices": [{"delta": {"content": reply}, "finish_reason": "stop"}]}
            return
        for index, c in enumerate(reply):
            head = {"index": index, "id": c["id"], "type": "function",
                    "function": {"name": c["function"]["name"], "arguments": ""}}  # fmt: skip
            yield {"choices": [{"delta": {"tool_calls": [head]}}]}
            for piece in (c["function"]["arguments"][:3], c["function"]["arguments"][3:]):
                yield {"choices": [{"delta": {"tool_calls": [{"index": index,
                       "function": {"arguments": piece}}]}}]}  # fmt: skip
        yield {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]}

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        self.graphql_calls.append(variables)
        if "todosConnection" in query:
            return {"todosConnection": {"nodes": [TODO], "pageInfo": {"hasNextPage": False}}}
        if "deleteTodo" in query:
            return {"deleteTodo": TODO}
        if "clearCompleted" in query:
            return {"clearCompleted": 2}
        return {"createTodo": TODO, "updateTodo": {**TODO, "completed": True}}

    def models(self) -> list[dict[str, Any]]:
        if isinstance(self.cards, Exception):
            raise self.cards
        return list(self.cards or [])


def run(client: StubClient, tools: ChatTools, stream: bool = True, text: str = "hi") -> Any:
    opts = TurnOptions(stream=stream)
    return converse(client, opts, [{"role": "user", "content": text}], False, tools)  # type: ignore[arg-type]


@pytest.mark.parametrize("stream", [True, False])
def test_a_call_runs_and_its_result_goes_back(
    stream: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    client = StubClient([[call("add_todo", {"title": "Buy milk"})], "Added it."])
    turn = run(client, ChatTools(enabled=True), stream=stream)
    assert turn.answer.text == "Added it."
    assert [r.name for r in turn.results] == ["add_todo"] and turn.results[0].ok
    first, second = client.bodies
    assert first["tool_choice"] == "auto" and len(first["tools"]) == 7
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"title": "Buy milk"}'
    assert tool["role"] == "tool" and tool["tool_call_id"] == "c1"
    assert json.loads(tool["content"])["added"]["id"] == 7
    err = capsys.readouterr().err
    assert err == '→ add_todo(title="Buy milk")\n'


def test_the_round_limit_forces_an_answer(capsys: pytest.CaptureFixture[str]) -> None:
    client = StubClient([[call("list_todos", {})]])
    turn = run(client, ChatTools(enabled=True, rounds=2))
    assert len(client.bodies) == 3 and len(turn.results) == 2
    assert [b["tool_choice"] for b in client.bodies] == ["auto", "auto", "none"]
    assert turn.stopped and json_output(turn)["tool_rounds_exhausted"] is True
    assert "Stopped after 2 tool rounds." in capsys.readouterr().err


def test_destructive_calls_are_refused_in_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    client = StubClient([[call("delete_todo", {"id": 7})], "I could not delete it."])
    turn = run(client, ChatTools(enabled=True))
    assert "--yes" in (turn.results[0].error or "")
    assert client.graphql_calls == []
    client = StubClient([[call("delete_todo", {"id": 7})], "Deleted."])
    turn = run(client, ChatTools(enabled=True, yes=True))
    assert turn.results[0].ok and client.graphql_calls == [{"id": 7}]


class TTYInput(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("reply", "runs"), [("y\n", True), ("\n", False), ("no\n", False)])
def test_destructive_calls_ask_on_a_terminal(
    reply: str, runs: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", TTYInput(reply))
    client = StubClient([[call("clear_completed", {})], "ok"])
    turn = run(client, ChatTools(enabled=True))
    assert turn.results[0].ok is runs
    assert bool(client.graphql_calls) is runs
    assert "Allow clear_completed? [y/N]" in capsys.readouterr().err


def test_malformed_calls_are_answered_as_tool_errors() -> None:
    bad = {"id": "c9", "type": "function", "function": {"name": "add_todo", "arguments": "{oops"}}
    client = StubClient([[bad, call("fly", {}, "c2")], "Sorry."])
    turn = run(client, ChatTools(enabled=True))
    assert [r.ok for r in turn.results] == [False, False]
    tools = [m for m in client.bodies[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tools] == ["c9", "c2"]
    assert all("error" in json.loads(m["content"]) for m in tools)
    assert client.graphql_calls == []


def test_json_output_carries_calls_and_results() -> None:
    client = StubClient([[call("complete_todo", {"id": 7})], "Done."])
    out = json_output(run(client, ChatTools(enabled=True), stream=False))
    assert out["choices"][0]["message"]["content"] == "Done."
    assert out["tool_results"] == [{"name": "complete_todo", "arguments": {"id": 7},
        "result": {"completed": {"id": 7, "title": "Buy milk", "status": "done"}}}]  # fmt: skip


def test_todos_context_goes_into_the_system_message() -> None:
    client = StubClient(["Plan: buy milk."])
    opts = TurnOptions(stream=False)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "plan"}]
    converse(client, opts, messages, False, ChatTools(todos=True))  # type: ignore[arg-type]
    sent = client.bodies[0]
    assert "tools" not in sent
    assert sent["messages"][0]["content"].startswith("Be brief.\n\nThe user's pending todos")
    assert "#7 Buy milk" in sent["messages"][0]["content"]
    assert messages[0]["content"] == "Be brief."  # the conversation itself is unchanged


@pytest.mark.parametrize(
    ("cards", "model", "expected"),
    [
        ([{"id": "m", "capabilities": ["tools"]}], "m", True),
        ([{"id": "m", "supported_parameters": ["tools", "top_p"]}], "m", True),
        ([{"id": "m", "capabilities": ["tools"]}], "default", True),
        ([{"id": "m"}], "m", False),
        ([{"id": "m", "capabilities": ["tools"]}], "other", False),
        (Unreachable("down"), "m", False),
    ],
)
def test_tools_default_follows_the_model_card(cards: Any, model: str, expected: bool) -> None:
    assert model_supports_tools(StubClient([], cards), model) is expected  # type: ignore[arg-type]


def test_merging_deltas_of_two_parallel_calls() -> None:
    calls: list[dict[str, Any]] = []
    merge_tool_call_deltas(calls, [{"index": 0, "id": "a", "function": {"name": "add_todo"}}])
    merge_tool_call_deltas(calls, [{"index": 1, "id": "b", "function": {"name": "list_todos"}}])
    merge_tool_call_deltas(calls, [{"index": 0, "function": {"arguments": '{"title":'}}])
    merge_tool_call_deltas(calls, [{"index": 0, "function": {"arguments": '"x"}'}}, "junk"])
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("a", "add_todo", '{"title":"x"}'),
        ("b", "list_todos", ""),
    ]


def test_a_kept_turns_later_rounds_join_the_conversation_its_first_round_started() -> None:
    from chatbot_cli.cli.tools import _same_conversation

    new = {"store": True, "conversation_name": "work", "tools": []}
    assert _same_conversation(new, "conv_1") == {
        "store": True,
        "conversation": "conv_1",
        "tools": [],
    }
    assert _same_conversation(new, None) == new  # the server has not named it yet
    known = {"store": True, "conversation": "conv_0"}
    assert _same_conversation(known, "conv_1") == known
