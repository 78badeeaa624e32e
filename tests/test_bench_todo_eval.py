"""The todo-tool eval's harness (bench/todo_eval.py) against a real server whose upstream is
scripted: an oracle that makes the right calls must score 30/30 with every call well formed, and
a sloppy one must lose exactly what it got wrong, so the two shares can fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bench.todo_eval import evaluate, render, summary
from bench.todo_eval_cases import CASES, Case
from tests.live import LiveServer
from tests.scripted_upstream import KEY, MODEL, Script, Step, scripted_upstream

pytestmark = pytest.mark.e2e


def _first_listed_id(messages: list[dict[str, Any]]) -> int:
    listed = json.loads(messages[-1]["content"])
    return int(listed["todos"][0]["id"])


def oracle(case: Case) -> list[Step]:
    if case.kind == "add":
        return [[("add_todo", case.oracle)], "Added."]
    if case.kind == "list":
        return [[("list_todos", {})], "Here is your list."]
    if case.kind in ("complete", "delete"):
        name = f"{case.kind}_todo"
        return [
            [("list_todos", {"search": case.target, "status": "all"})],
            lambda messages: [(name, {"id": _first_listed_id(messages)})],
            "Done.",
        ]
    return ["Hello! Happy to help."]


def run_eval(start_server: Callable[..., LiveServer], script: Script) -> dict[str, Any]:
    with scripted_upstream(script) as url:
        args = ["--engine", "openai", "--upstream-url", url, "--upstream-key", KEY]
        server = start_server(model=None, extra_args=args)
        outcomes = evaluate(server.url, server.api_key, server.env, MODEL)
    return summary(outcomes)


@pytest.mark.timeout(600)  # 30 `chatbot chat` processes: minutes on a loaded machine
def test_the_oracle_scores_everything(start_server: Callable[..., LiveServer]) -> None:
    assert len(CASES) == 30
    assert {c.kind for c in CASES} == {"add", "list", "complete", "delete", "chat"}
    s = run_eval(start_server, Script(turns={c.prompt: oracle(c) for c in CASES}))
    assert s["correct"] == 30, s
    assert s["well_formed_share"] == 1.0 and s["tool_calls"] == 9 + 6 + 2 * 10
    assert "| handled correctly | 30/30 (100%) |" in render(MODEL, s)


@pytest.mark.timeout(600)  # 30 `chatbot chat` processes: minutes on a loaded machine
def test_a_sloppy_model_loses_what_it_got_wrong(start_server: Callable[..., LiveServer]) -> None:
    turns = {c.prompt: oracle(c) for c in CASES}
    adds = [c for c in CASES if c.kind == "add"]
    turns[adds[0].prompt] = [[("add_todo", '{"title": "Buy')], "Oops."]  # broken JSON
    turns[adds[1].prompt] = [[("add_todo", {"name": "Call mom"})], "Oops."]  # wrong field
    chats = [c for c in CASES if c.kind == "chat"]
    turns[chats[0].prompt] = [[("add_todo", {"title": "How are you"})], "Added."]
    s = run_eval(start_server, Script(turns=turns))
    assert s["correct"] == 27
    assert s["tool_calls"] - s["well_formed"] == 2
    assert s["by_kind"]["add"] == {"correct": 7, "of": 9}


def test_a_run_stopped_early_keeps_the_cases_it_finished(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.todo_eval as todo_eval

    done: list[int] = []

    def fake_run_case(case: Case, *_: Any) -> todo_eval.Outcome:
        if done:
            raise KeyboardInterrupt
        done.append(1)
        return todo_eval.Outcome(case, True, "", [], "", 0.1)

    monkeypatch.setattr(todo_eval, "run_case", fake_run_case)
    monkeypatch.setattr(todo_eval, "Todos", lambda *_: None)
    outcomes = evaluate("http://127.0.0.1:9", "key", {}, "m")
    assert len(outcomes) == 1 and summary(outcomes)["correct"] == 1
