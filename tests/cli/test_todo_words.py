"""Due dates, inline words and the import/export formats, without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chatbot_cli.cli import todo_formats
from chatbot_cli.cli.todo_words import parse_due, parse_priority, split_words
from chatbot_cli.errors import InvalidRequest

PARIS_WINTER = timezone(timedelta(hours=1))
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=PARIS_WINTER)  # a Monday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-24 17:00", datetime(2026, 12, 24, 16, 0, tzinfo=UTC)),
        ("2026-12-24", datetime(2026, 12, 24, 22, 59, 59, tzinfo=UTC)),  # end of that day
        ("tomorrow", datetime(2026, 12, 1, 22, 59, 59, tzinfo=UTC)),
        ("fri 5pm", datetime(2026, 12, 4, 16, 0, tzinfo=UTC)),
        ("in 3 days", datetime(2026, 12, 3, 22, 59, 59, tzinfo=UTC)),
    ],
)
def test_dates_are_read_in_the_users_zone_and_stored_in_utc(text: str, expected: datetime) -> None:
    assert parse_due(text, NOW) == expected


def test_a_date_not_understood_names_it_with_examples() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_due("someday maybe", NOW)
    assert "'someday maybe'" in caught.value.message and "next monday" in caught.value.message


def test_priorities_and_inline_words() -> None:
    assert [parse_priority(p) for p in ("H", "medium", " low ", "none")] == [
        "high", "medium", "low", "none"
    ]  # fmt: skip
    with pytest.raises(InvalidRequest, match="none, low, medium, high"):
        parse_priority("urgent")
    words = split_words(["Call", "mom", "+family", "project:home", "due:fri", "pri:H", "at 10:30"])
    assert (words.title, words.tags, words.project, words.due, words.priority) == (
        "Call mom at 10:30", ["family"], "home", "fri", "H"
    )  # fmt: skip


def test_todotxt_lines_map_to_fields() -> None:
    items = todo_formats.parse(
        "x 2026-01-05 2026-01-02 Pay rent +home +bills @phone due:2026-02-03 pri:A\n"
    )
    ((line, item),) = items
    assert line == 1
    assert item["completed"] is True and item["priority"] == "HIGH"
    assert (item["title"], item["project"], item["tags"]) == (
        "Pay rent",
        "home",
        ["phone", "bills"],
    )
    assert item["createdAt"].startswith("2026-01-02") and item["updatedAt"].startswith("2026-01-05")
    assert (
        item["uid"]
        == todo_formats.parse(
            "x 2026-01-05 2026-01-02 Pay rent +home +bills @phone due:2026-02-03 pri:A\n"
        )[0][1]["uid"]
    )  # the same line is the same todo: importing twice creates nothing twice


def test_formats_are_detected_by_content() -> None:
    task = [{"uuid": "u1", "description": "a", "status": "pending", "entry": "20260101T000000Z",
             "priority": "M", "tags": ["x"], "annotations": [{"description": "note"}]},
            {"uuid": "u2", "description": "gone", "status": "deleted"}]  # fmt: skip
    assert todo_formats.detect(json.dumps(task)) == "taskwarrior"
    ((_, item),) = todo_formats.parse(json.dumps(task))  # deleted tasks are not imported
    assert (item["uid"], item["priority"], item["notes"]) == ("u1", "MEDIUM", "note")
    assert item["createdAt"] == "2026-01-01T00:00:00+00:00"
    assert todo_formats.detect('[{"title": "a"}]') == "json"
    assert todo_formats.detect("id,title,completed\n1,a,false\n") == "csv"
    assert todo_formats.detect("(A) call\n") == "todotxt"


def test_a_bad_line_is_reported_by_number() -> None:
    with pytest.raises(todo_formats.ImportFileError) as caught:
        todo_formats.parse('[\n  {"title": "a"},\n\n  {"title": "b", "due": "soon"}\n]')
    assert caught.value.line == 4
    with pytest.raises(todo_formats.ImportFileError) as caught:
        todo_formats.parse("fine\n(B) due:2026-13-45 broken\n")
    assert caught.value.line == 2
