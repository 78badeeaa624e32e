"""Export and import formats: our JSON, todo.txt, CSV and Taskwarrior's `task export` JSON.

Todos here are dicts as the GraphQL API returns them (camelCase keys). Import items are dicts for
`importTodos` (TodoImportInput), each with the line of the file it came from, so the server's
"item N is bad" can be reported as a line number. An item without an identity of its own gets a
uid derived from its content, so importing the same file twice creates nothing twice.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime, time
from typing import Any

from chatbot_cli.errors import InvalidRequest

FORMATS = ("json", "todotxt", "csv", "taskwarrior")
CSV_COLUMNS = (
    "id", "title", "completed", "createdAt", "updatedAt", "due", "priority", "tags", "project",
    "notes", "uid",
)  # fmt: skip
_TXT_PRIORITY = {"HIGH": "A", "MEDIUM": "B", "LOW": "C"}
_TW_PRIORITY = {"HIGH": "H", "MEDIUM": "M", "LOW": "L"}
_UID_SPACE = uuid.UUID("6c1b2f3e-4a5d-5e6f-8a9b-0c1d2e3f4a5b")


class ImportFileError(InvalidRequest):
    """A line of an import file cannot be used; nothing is imported."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line  # before super().__init__: an error is frozen once built
        super().__init__(f"Line {line}: {message} Nothing was imported.")


def _content_uid(*parts: object) -> str:
    return str(uuid.uuid5(_UID_SPACE, "\x1f".join(str(p) for p in parts)))


# -- export ------------------------------------------------------------------------------------


def _tw_time(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _txt_date(value: str) -> str:
    return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d")


def _txt_due(value: str) -> str:
    local = datetime.fromisoformat(value).astimezone()
    if local.time().replace(microsecond=0) == time(23, 59, 59):
        return local.strftime("%Y-%m-%d")  # a due date without a time
    return local.strftime("%Y-%m-%dT%H:%M")


def to_todotxt(todo: dict[str, Any]) -> str:
    parts = []
    if todo["completed"]:
        parts += ["x", _txt_date(todo["updatedAt"])]
    elif todo.get("priority") in _TXT_PRIORITY:
        parts.append(f"({_TXT_PRIORITY[todo['priority']]})")
    parts += [_txt_date(todo["createdAt"]), todo["title"]]
    if todo.get("project"):
        parts.append("+" + "-".join(todo["project"].split()))
    parts += [f"@{t}" for t in todo.get("tags") or ()]
    if todo.get("due"):
        parts.append(f"due:{_txt_due(todo['due'])}")
    if todo["completed"] and todo.get("priority") in _TXT_PRIORITY:
        parts.append(f"pri:{_TXT_PRIORITY[todo['priority']]}")  # todo.txt's convention
    return " ".join(parts)


def to_taskwarrior(todo: dict[str, Any]) -> dict[str, Any]:
    task: dict[str, Any] = {
        "uuid": todo.get("uid") or _content_uid(todo["createdAt"], todo["title"]),
        "description": todo["title"],
        "status": "completed" if todo["completed"] else "pending",
        "entry": _tw_time(todo["createdAt"]),
        "modified": _tw_time(todo["updatedAt"]),
    }
    if todo["completed"]:
        task["end"] = _tw_time(todo["updatedAt"])
    if todo.get("due"):
        task["due"] = _tw_time(todo["due"])
    if todo.get("priority") in _TW_PRIORITY:
        task["priority"] = _TW_PRIORITY[todo["priority"]]
    if todo.get("tags"):
        task["tags"] = list(todo["tags"])
    if todo.get("project"):
        task["project"] = todo["project"]
    if todo.get("notes"):
        task["annotations"] = [{"entry": task["modified"], "description": todo["notes"]}]
    return task


def render(todos: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(todos, indent=2, ensure_ascii=False) + "\n"
    if fmt == "taskwarrior":
        return json.dumps([to_taskwarrior(t) for t in todos], indent=2, ensure_ascii=False) + "\n"
    if fmt == "todotxt":
        return "".join(to_todotxt(t) + "\n" for t in todos)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in todos:
        row = {**t, "tags": " ".join(t.get("tags") or ()), "completed": str(t["completed"]).lower()}
        writer.writerow(["" if row.get(c) is None else row[c] for c in CSV_COLUMNS])
    return out.getvalue()


# -- import ------------------------------------------------------------------------------------


def detect(text: str) -> str:
    head = text.lstrip()
    if head.startswith(("[", "{")):
        first = _json_values(text)[:1]
        if first and isinstance(first[0][1], dict) and "description" in first[0][1]:
            return "taskwarrior"
        return "json"
    first_line = head.split("\n", 1)[0]
    if first_line.strip().split(",")[:2] == ["id", "title"]:
        return "csv"
    return "todotxt"


def _json_values(text: str) -> list[tuple[int, Any]]:
    """The values of a JSON array, or of JSON lines (older `task export`), with their lines."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    values: list[tuple[int, Any]] = []
    array = text.startswith("[", pos)
    if array:
        pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or (array and text[pos] == "]"):
            return values
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ImportFileError(exc.lineno, f"not valid JSON ({exc.msg}).") from None
        values.append((line, value))


def _iso(value: Any, line: int, name: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ImportFileError(line, f"'{name}' must be a date-time string.")
    text = value.strip()
    for pattern in ("%Y%m%dT%H%M%SZ", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(text, pattern)
        except ValueError:
            continue
        if pattern == "%Y-%m-%d" and name == "due":
            return datetime.combine(parsed.date(), time(23, 59, 59)).astimezone().isoformat()
        return parsed.replace(tzinfo=UTC).isoformat()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ImportFileError(line, f"'{name}' is not a date: {value!r}.") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


def _priority(value: Any, line: int) -> str | None:
    if value in (None, ""):
        return None
    name = str(value).strip().upper()
    name = {"H": "HIGH", "M": "MEDIUM", "L": "LOW", "A": "HIGH", "B": "MEDIUM"}.get(name, name)
    if len(name) == 1 and "C" <= name <= "Z":
        name = "LOW"
    if name not in ("NONE", "LOW", "MEDIUM", "HIGH"):
        raise ImportFileError(line, f"unknown priority {value!r} (use high, medium, low, none).")
    return name


def _ours(line: int, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("title"), str):
        raise ImportFileError(line, "each todo must be an object with a 'title' string.")
    tags = value.get("tags") or []
    if isinstance(tags, str):
        tags = tags.split()
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ImportFileError(line, "'tags' must be a list of strings.")
    completed = value.get("completed", False)
    if isinstance(completed, str):
        completed = completed.strip().lower() in ("true", "1", "yes", "x")
    item = {
        "title": value["title"],
        "completed": bool(completed),
        "createdAt": _iso(value.get("createdAt"), line, "createdAt"),
        "updatedAt": _iso(value.get("updatedAt"), line, "updatedAt"),
        "due": _iso(value.get("due"), line, "due"),
        "priority": _priority(value.get("priority"), line),
        "tags": tags,
        "project": value.get("project") or None,
        "notes": value.get("notes") or None,
        "uid": value.get("uid") or _content_uid(value.get("createdAt"), value["title"]),
    }
    source = value.get("id")
    if isinstance(source, str) and source.isdigit():
        source = int(source)
    if isinstance(source, int) and not isinstance(source, bool):
        item["id"] = source
    return item


def _taskwarrior(line: int, task: Any) -> dict[str, Any] | None:
    if not isinstance(task, dict) or not isinstance(task.get("description"), str):
        raise ImportFileError(line, "each task must be an object with a 'description'.")
    status = task.get("status", "pending")
    if status == "deleted":
        return None  # Taskwarrior keeps deleted tasks in its export; they are not todos
    notes = "\n".join(
        str(a.get("description", "")) for a in task.get("annotations") or () if isinstance(a, dict)
    )
    tags = task.get("tags") or []
    if not isinstance(tags, list):
        raise ImportFileError(line, "'tags' must be a list.")
    return {
        "title": task["description"],
        "completed": status == "completed",
        "createdAt": _iso(task.get("entry"), line, "entry"),
        "updatedAt": _iso(task.get("end") or task.get("modified"), line, "modified"),
        "due": _iso(task.get("due"), line, "due"),
        "priority": _priority(task.get("priority"), line),
        "tags": [str(t) for t in tags],
        "project": task.get("project") or None,
        "notes": notes or None,
        "uid": task.get("uuid") or _content_uid(task.get("entry"), task["description"]),
    }


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TXT_PRI = re.compile(r"^\(([A-Z])\)$")


def _todotxt(line: int, text: str) -> dict[str, Any]:
    words = text.split()
    completed = False
    done_on = created = None
    priority = None
    if words and words[0] == "x":
        completed = True
        words = words[1:]
        if words and _DATE.match(words[0]):
            done_on = words.pop(0)
    if words and _TXT_PRI.match(words[0]):
        priority = _TXT_PRI.match(words.pop(0)).group(1)  # type: ignore[union-attr]
    if words and _DATE.match(words[0]):
        created = words.pop(0)
    title, tags, projects = [], [], []
    due = None
    for word in words:
        if word.startswith("+") and len(word) > 1:
            projects.append(word[1:])
        elif word.startswith("@") and len(word) > 1:
            tags.append(word[1:])
        elif word.startswith("due:") and len(word) > 4:
            due = word[4:]
        elif word.startswith("pri:") and len(word) == 5:
            priority = word[4]
        else:
            title.append(word)
    if not title:
        raise ImportFileError(line, "the task has no text.")
    # todo.txt allows several +projects; the first is the project, the others become tags.
    tags += projects[1:]
    return {
        "title": " ".join(title),
        "completed": completed,
        "createdAt": _iso(created, line, "createdAt"),
        "updatedAt": _iso(done_on, line, "updatedAt"),
        "due": _iso(due, line, "due"),
        "priority": _priority(priority, line),
        "tags": tags,
        "project": projects[0] if projects else None,
        "notes": None,
        "uid": _content_uid("todo.txt", text.strip()),
    }


def parse(text: str, fmt: str | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Items to import, each with its line. A bad line: ImportFileError (nothing imported)."""
    fmt = fmt or detect(text)
    items: list[tuple[int, dict[str, Any] | None]] = []
    if fmt in ("json", "taskwarrior"):
        convert = _ours if fmt == "json" else _taskwarrior
        items = [(line, convert(line, value)) for line, value in _json_values(text)]
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            line = reader.line_num
            if None in row:
                raise ImportFileError(line, "more fields than the header has.")
            items.append((line, _ours(line, row)))
    else:
        for number, raw in enumerate(text.splitlines(), 1):
            if raw.strip():
                items.append((number, _todotxt(number, raw)))
    return [
        (line, {k: v for k, v in item.items() if v is not None}) for line, item in items if item
    ]
