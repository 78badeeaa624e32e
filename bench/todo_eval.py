"""`python -m bench.todo_eval [--model GGUF | --upstream-url URL ...] [--json FILE]`

The todo-tool evaluation (issue 19): the 30 requests of `todo_eval_cases.py`, each run as
`chatbot chat --tools --yes --json` against a real `chatbot serve` that starts from the same
five todos. Two shares are reported, neither asserted: requests handled correctly (judged by the
list before and after, and by which tools were called), and well-formed tool calls (a known tool
whose arguments parse and pass its schema; issue 19 wants 100% on every model).

The server runs the embedded SmolLM2 by default, another GGUF with --model, or forwards to any
OpenAI-compatible server with --upstream-url (a better model the bench can reach).

The defaults keep a whole run practical on a small CPU model: llama.cpp on one thread (on a
loaded machine its threads meet at every layer, and one waits whenever the other is descheduled:
README, "Todo-tool eval", has the measurement), at most 128 tokens an answer and 2 tool rounds a
request (a complete or delete needs list_todos, then the change; a model that keeps calling gets
its final answer after that).
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `tests.live`, the server runner, lives in the repo

from bench.todo_eval_cases import CASES, SEED, Case  # noqa: E402

CHANGES = ("add_todo", "complete_todo", "reopen_todo", "edit_todo", "delete_todo",
           "clear_completed")  # fmt: skip
FIELDS = "id title completed due priority tags project"


@dataclass
class Outcome:
    case: Case
    correct: bool
    why: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""
    seconds: float = 0.0
    cut: bool = False  # the last answer ended at max_tokens (a call cut there is dropped)

    @property
    def malformed(self) -> int:
        return sum(1 for c in self.calls if c.get("malformed"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.case.prompt,
            "kind": self.case.kind,
            "correct": self.correct,
            "why": self.why,
            "calls": self.calls,
            "answer": self.answer,
            "cut": self.cut,
            "seconds": round(self.seconds, 2),
        }


class Todos:
    """The server's list through /graphql: reset to the seed, read whole."""

    def __init__(self, url: str, api_key: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        )

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        data = body.json()
        if data.get("errors"):
            raise RuntimeError(f"GraphQL error: {data['errors'][0]['message']}")
        return dict(data["data"])

    def all(self) -> dict[int, dict[str, Any]]:
        todos = self.query(f"{{ todos(limit: 1000) {{ {FIELDS} }} }}")["todos"]
        return {t["id"]: t for t in todos}

    def reset(self) -> None:
        for todo_id in self.all():
            self.query("mutation ($id: Int!) { deleteTodo(id: $id) { id } }", {"id": todo_id})
        for title, fields in SEED:
            args = {"title": title, **fields}
            self.query(
                "mutation ($title: String!, $priority: Priority, $tags: [String!], "
                "$project: String) { createTodo(title: $title, priority: $priority, tags: $tags, "
                "project: $project) { id } }",
                args,
            )


def judge(
    case: Case, before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]],
    calls: list[dict[str, Any]],
) -> tuple[bool, str]:  # fmt: skip
    """Whether the request was handled correctly, and why not."""
    added = [after[i] for i in after.keys() - before.keys()]
    removed = [before[i] for i in before.keys() - after.keys()]
    changed = [i for i in before.keys() & after.keys() if before[i] != after[i]]
    names = [c["name"] for c in calls]
    if case.kind == "chat":
        if calls:
            return False, f"called {', '.join(names)} for small talk"
        return (not (added or removed or changed)), "the list changed"
    if case.kind == "list":
        if added or removed or changed:
            return False, "the list changed"
        return ("list_todos" in names), "list_todos was not called"
    if case.kind == "add":
        if removed or changed or len(added) != 1:
            return False, f"{len(added)} added, {len(removed)} removed, {len(changed)} changed"
        todo = added[0]
        if (case.target or "").lower() not in todo["title"].lower():
            return False, f"added {todo['title']!r}"
        for name, want in case.fields.items():
            got = todo.get(name)
            if (want is True and not got) or (want is not True and got != want):
                return False, f"{name} is {got!r}, not {want!r}"
        return True, ""
    target = next(i for i, t in before.items() if t["title"] == case.target)
    others_same = all(before[i] == after.get(i) for i in before if i != target) and not added
    if not others_same:
        return False, "other todos changed"
    if case.kind == "complete":
        done = target in after and after[target]["completed"]
        return done, "the todo was not completed"
    return (target not in after), "the todo was not deleted"


@dataclass
class Limits:
    max_tokens: int = 128  # each model answer (a call or the reply)
    timeout: float = 300.0  # one request with all its rounds
    rounds: int = 2  # rounds of tool calls in one request


def run_case(case: Case, todos: Todos, env: dict[str, str], model: str, limits: Limits) -> Outcome:
    todos.reset()
    before = todos.all()
    started = time.monotonic()
    cmd = [sys.executable, "-m", "chatbot_cli", "chat", "--tools", "--yes", "--json",
           "--no-log", "--temperature", "0", "--max-tokens", str(limits.max_tokens),
           "--tool-rounds", str(limits.rounds), "-m", model, case.prompt]  # fmt: skip
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=limits.timeout)
    except subprocess.TimeoutExpired:
        return Outcome(case, False, f"no answer in {limits.timeout:.0f} s", seconds=limits.timeout)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        why = f"chat failed: {proc.stderr.strip()[-300:]}"
        return Outcome(case, False, why, seconds=seconds)
    out = json.loads(proc.stdout)
    calls = list(out.get("tool_results") or [])
    choice = (out.get("choices") or [{}])[0]
    answer = str((choice.get("message") or {}).get("content") or "")
    correct, why = judge(case, before, todos.all(), calls)
    cut = choice.get("finish_reason") == "length"
    return Outcome(case, correct, "" if correct else why, calls, answer, seconds, cut)


def evaluate(
    url: str,
    api_key: str,
    env: dict[str, str],
    model: str,
    limits: Limits | None = None,
    numbers: list[int] | None = None,
) -> list[Outcome]:
    """Run the cases (all, or those of the given 1-based numbers) one after the other."""
    todos = Todos(url, api_key)
    outcomes: list[Outcome] = []
    try:
        for number, case in enumerate(CASES, 1):
            if numbers and number not in numbers:
                continue
            outcome = run_case(case, todos, env, model, limits or Limits())
            mark = "ok" if outcome.correct else f"WRONG ({outcome.why})"
            took = f"{outcome.seconds:.1f} s"
            calls = f"{len(outcome.calls)} calls, {outcome.malformed} malformed"
            calls += ", cut" if outcome.cut else ""
            line = f"[eval] {number:2}/{len(CASES)} {case.kind:8} {took:>7} {calls:>24} {mark}"
            sys.stderr.write(line + "\n")
            outcomes.append(outcome)
    except (KeyboardInterrupt, SystemExit):
        # A run stopped early (Ctrl-C, SIGTERM) still reports the cases it finished: on a
        # small model a full run can take longer than anyone waits.
        sys.stderr.write(f"[eval] stopped: the summary covers the {len(outcomes)} cases done\n")
    return outcomes


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    calls = sum(len(o.calls) for o in outcomes)
    malformed = sum(o.malformed for o in outcomes)
    kinds: dict[str, list[int]] = {}
    for o in outcomes:
        kinds.setdefault(o.case.kind, [0, 0])
        kinds[o.case.kind][0] += o.correct
        kinds[o.case.kind][1] += 1
    return {
        "requests": len(outcomes),
        "correct": sum(o.correct for o in outcomes),
        "correct_share": sum(o.correct for o in outcomes) / len(outcomes) if outcomes else 0.0,
        "tool_calls": calls,
        "well_formed": calls - malformed,
        "well_formed_share": (calls - malformed) / calls if calls else 1.0,
        "by_kind": {k: {"correct": c, "of": n} for k, (c, n) in kinds.items()},
        "cut": sum(o.cut for o in outcomes),
        "median_seconds": statistics.median(o.seconds for o in outcomes) if outcomes else 0.0,
    }


def render(model: str, s: dict[str, Any]) -> str:
    lines = [
        f"Todo-tool eval, model {model}: {s['requests']} requests through "
        "`chatbot chat --tools --json`",
        "",
        "| measure | value |",
        "|---|---|",
        f"| handled correctly | {s['correct']}/{s['requests']} ({s['correct_share']:.0%}) |",
        f"| well-formed tool calls | {s['well_formed']}/{s['tool_calls']} "
        f"({s['well_formed_share']:.0%}; target 100%) |",
    ]
    lines += [f"| {k} correct | {v['correct']}/{v['of']} |" for k, v in s["by_kind"].items()]
    lines.append(f"| last answer cut by max_tokens | {s['cut']}/{s['requests']} |")
    lines.append(f"| median time a request | {s['median_seconds']:.1f} s |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.todo_eval", description=__doc__)
    parser.add_argument("--model", type=Path, help="GGUF file (default: the embedded SmolLM2).")
    parser.add_argument("--upstream-url", help="Evaluate a model of this OpenAI-compatible server.")
    parser.add_argument("--upstream-key", help="Key for --upstream-url.")
    parser.add_argument("--upstream-model", default="default", help="Model id upstream.")
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="Server slots (default 1: requests run one at a time, and one slot gets the whole "
        "context, which the tool definitions need on a small model).",
    )
    parser.add_argument("--max-tokens", type=int, default=128, help="Per model answer.")
    parser.add_argument("--tool-rounds", type=int, default=2, help="Tool rounds a request.")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="llama.cpp threads (default 1: on a loaded machine more threads wait for each "
        "other; see the module docstring).",
    )
    parser.add_argument("--timeout", type=float, default=300, help="Seconds per request.")
    parser.add_argument(
        "--cases",
        help="Only these cases, by 1-based number (e.g. 1,10,16,21,26: one of each kind); "
        "the summary then says how many ran.",
    )
    parser.add_argument("--json", type=Path, help="Also write the summary and every case here.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from bench.common import isolated_env
    from tests.live import LiveServer

    args = parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so the server this run started is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="chatbot-eval-") as tmp:
        home = Path(tmp)
        extra: list[str] = ["--parallel", str(args.parallel), "--threads", str(args.threads)]
        model_path = None
        if args.upstream_url:
            extra += ["--engine", "openai", "--upstream-url", args.upstream_url]
            extra += ["--upstream-key", args.upstream_key] if args.upstream_key else []
            model = args.upstream_model
        else:
            from chatbot_cli.engine.models import embedded_model_path

            model_path = (args.model or embedded_model_path()).resolve()
            model = "default"
        env = {"PYTHONPATH": isolated_env(home)["PYTHONPATH"]}
        server = LiveServer(home=home, model=model_path, extra_args=extra, extra_env=env)
        server.start(timeout=180)
        try:
            limits = Limits(args.max_tokens, args.timeout, args.tool_rounds)
            numbers = [int(n) for n in args.cases.split(",")] if args.cases else None
            outcomes = evaluate(server.url, server.api_key, server.env, model, limits, numbers)
        finally:
            server.stop()
    s = summary(outcomes)
    name = args.upstream_model if args.upstream_url else (model_path.name if model_path else "")
    print(render(name, s))
    if args.json:
        payload = {"model": name, "summary": s, "cases": [o.as_dict() for o in outcomes]}
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
