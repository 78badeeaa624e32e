"""The 30 requests of the todo-tool evaluation (`python -m bench.todo_eval`), in varied phrasing,
and the list every request starts from.

Each case says what a correct handling does to the list (`kind`, the todo it is about, the fields
an added todo must have); `bench/todo_eval.py` judges by the list before and after, not by the
model's words. `oracle` is the calls a correct model would make: the harness's own test plays
them through a scripted upstream, which must score 100%.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The list before every request: (title, fields).
SEED: list[tuple[str, dict[str, Any]]] = [
    ("Call the dentist", {"priority": "HIGH"}),
    ("Buy groceries", {"tags": ["shop"]}),
    ("Finish the quarterly report", {"project": "work"}),
    ("Water the plants", {}),
    ("Pay the electricity bill", {"priority": "MEDIUM"}),
]


@dataclass(frozen=True)
class Case:
    prompt: str
    kind: str  # add | list | complete | delete | chat
    target: str | None = None  # add: words the new title holds; complete/delete: a seed title
    fields: dict[str, Any] = field(default_factory=dict)  # add: fields the new todo must have
    oracle: dict[str, Any] = field(default_factory=dict)  # add: the arguments a correct call has


def _add(prompt: str, target: str, oracle: dict[str, Any], **fields: Any) -> Case:
    return Case(prompt, "add", target, fields, oracle)


CASES: list[Case] = [
    _add("Add a todo: buy milk", "milk", {"title": "Buy milk"}),
    _add("Remind me to call mom", "mom", {"title": "Call mom"}),
    _add("I need to renew my passport, put it on my list", "passport",
         {"title": "Renew my passport"}),
    _add("Can you add 'book flights to Lisbon' to my todos?", "flights",
         {"title": "Book flights to Lisbon"}),
    _add("New task: clean the garage, high priority", "garage",
         {"title": "Clean the garage", "priority": "high"}, priority="HIGH"),
    _add("Add 'send the invoice' due tomorrow", "invoice",
         {"title": "Send the invoice", "due": "tomorrow"}, due=True),
    _add("Put 'order printer ink' on the shopping list with the tag shop", "ink",
         {"title": "Order printer ink", "tags": ["shop"]}, tags=["shop"]),
    _add("Add prepare the slides to my work project", "slides",
         {"title": "Prepare the slides", "project": "work"}, project="work"),
    _add("don't let me forget to feed the cat", "cat", {"title": "Feed the cat"}),
    Case("What's on my todo list?", "list"),
    Case("Show me my todos", "list"),
    Case("What do I still have to do?", "list"),
    Case("Do I have anything about the dentist?", "list"),
    Case("List my pending tasks please", "list"),
    Case("Which of my todos are high priority?", "list"),
    Case("I called the dentist, mark it done", "complete", "Call the dentist"),
    Case("Mark 'Buy groceries' as complete", "complete", "Buy groceries"),
    Case("I've watered the plants", "complete", "Water the plants"),
    Case("Done with the quarterly report!", "complete", "Finish the quarterly report"),
    Case("Check off paying the electricity bill", "complete", "Pay the electricity bill"),
    Case("Delete the todo about groceries", "delete", "Buy groceries"),
    Case("Remove 'Water the plants' from my list", "delete", "Water the plants"),
    Case("I don't need to call the dentist anymore, delete it", "delete", "Call the dentist"),
    Case("Get rid of the quarterly report task", "delete", "Finish the quarterly report"),
    Case("Please delete the electricity bill todo", "delete", "Pay the electricity bill"),
    Case("Hi! How are you today?", "chat"),
    Case("Tell me a joke", "chat"),
    Case("What is the capital of France?", "chat"),
    Case("Thanks, that's all for now", "chat"),
    Case("What's 12 times 7?", "chat"),
]  # fmt: skip
