"""`chatbot todo` with due dates, priorities, tags, projects, notes, undo, export and import,
end to end against a real server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.test_todo import cli, ok, one_error_line
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


def test_add_list_show_edit_undo(live_server: LiveServer, tmp_path: Path) -> None:
    env = live_server.env
    mom = json.loads(
        ok(env, "todo", "add", "Call mom", "--due", "tomorrow", "--priority", "high",
           "--tag", "family", "--project", "home", "--note", "Ask about *sunday*", "--json")
    )  # fmt: skip
    assert {"id", "title", "completed", "createdAt", "updatedAt"} <= set(mom)
    assert (mom["priority"], mom["tags"], mom["project"]) == ("HIGH", ["family"], "home")
    due = datetime.fromisoformat(mom["due"])
    assert timedelta(0) < due - datetime.now(UTC) < timedelta(days=2)
    inline = json.loads(ok(env, "todo", "add", "Pay", "rent", "+bills", "project:flat",
                           "due:2000-01-01", "pri:L", "--json"))  # fmt: skip
    assert (inline["title"], inline["tags"], inline["project"], inline["priority"]) == (
        "Pay rent", ["bills"], "flat", "LOW"
    )  # fmt: skip
    plain = json.loads(ok(env, "todo", "add", "plain", "--json"))

    # Most urgent first by default: mom (high 6 + due tomorrow ~8.2 + tag, project, notes ~2.6),
    # then the rent (overdue 12 + low 1.8 + tag and project 1.8), then plain.
    listed = [t["id"] for t in json.loads(ok(env, "todo", "list", "--json"))]
    assert listed == [mom["id"], inline["id"], plain["id"]]
    rows = ok(env, "todo", "list", "--tag", "family").splitlines()
    assert [r.split("\t")[0] for r in rows] == [str(mom["id"])]
    assert rows[0].split("\t")[4:] == [mom["due"], "high", "family", "home"]
    overdue = json.loads(ok(env, "todo", "list", "--due", "overdue", "--json"))
    assert [t["id"] for t in overdue] == [inline["id"]]
    by_priority = json.loads(ok(env, "todo", "list", "--sort", "priority", "--json"))
    assert [t["id"] for t in by_priority] == [mom["id"], inline["id"], plain["id"]]
    shown = ok(env, "todo", "show", str(mom["id"]))
    assert "priority\thigh" in shown and shown.endswith("Ask about *sunday*\n")

    edited = json.loads(ok(env, "todo", "edit", str(mom["id"]), "--clear", "due", "--untag",
                           "family", "--tag", "phone", "--priority", "low", "--json"))  # fmt: skip
    assert (edited["due"], edited["tags"], edited["priority"]) == (None, ["phone"], "LOW")
    assert "Undid edit" in ok(env, "todo", "undo")
    assert json.loads(ok(env, "todo", "show", str(mom["id"]), "--json"))["tags"] == ["family"]
    ok(env, "todo", "rm", str(plain["id"]))
    assert "Undid rm" in ok(env, "todo", "undo")
    assert "Undid add" in ok(env, "todo", "undo")  # plain was the last add
    titles = {t["title"] for t in json.loads(ok(env, "todo", "list", "--json"))}
    assert titles == {"Call mom", "Pay rent"}


def test_bad_input_is_one_line_and_exit_2(live_server: LiveServer) -> None:
    env = live_server.env
    bad_date = cli(env, "todo", "add", "x", "--due", "someday maybe")
    assert bad_date.returncode == 2
    assert "'someday maybe'" in one_error_line(bad_date) and "tomorrow" in bad_date.stderr
    bad_priority = cli(env, "todo", "add", "x", "--priority", "urgent")
    assert bad_priority.returncode == 2 and "none, low, medium, high" in one_error_line(
        bad_priority
    )
    bad_sort = cli(env, "todo", "list", "--sort", "name")
    assert bad_sort.returncode == 2
    long_tag = cli(env, "todo", "add", "x", "--tag", "t" * 65)
    assert long_tag.returncode == 2 and "64" in one_error_line(long_tag)
    assert cli(env, "todo", "undo").returncode == 5  # nothing to undo yet
    assert json.loads(ok(env, "todo", "list", "--json")) == []


def test_export_import_round_trip(live_server: LiveServer, tmp_path: Path) -> None:
    env = live_server.env
    ok(env, "todo", "add", "one", "--due", "2030-01-02 17:00", "-p", "M", "-T", "a", "-T", "b",
       "-P", "p", "--note", "line 1\nline 2")  # fmt: skip
    done = json.loads(ok(env, "todo", "add", "two", "--json"))
    ok(env, "todo", "done", str(done["id"]))
    before = json.loads(ok(env, "todo", "list", "--json"))
    for fmt in ("json", "todotxt", "csv", "taskwarrior"):
        ok(env, "todo", "export", "--format", fmt, "-o", str(tmp_path / f"out.{fmt}"))
    exported = json.loads((tmp_path / "out.json").read_text())
    assert [t["title"] for t in exported] == ["one", "two"]  # oldest first
    assert "(B)" in (tmp_path / "out.todotxt").read_text()

    # Into the same server: everything is already there.
    again = ok(env, "todo", "import", str(tmp_path / "out.json"))
    assert again == "Imported 0 todos; skipped 2 already there.\n"
    # Remove everything, then import: nothing lost (ids aside).
    for todo in before:
        ok(env, "todo", "rm", str(todo["id"]))
    assert "Imported 2" in ok(env, "todo", "import", str(tmp_path / "out.json"))
    after = json.loads(ok(env, "todo", "list", "--json"))
    keep = ("title", "completed", "createdAt", "due", "priority", "tags", "project", "notes")
    assert sorted([{k: t[k] for k in keep} for t in after], key=str) == sorted(
        [{k: t[k] for k in keep} for t in before], key=str
    )
    assert "skipped 2" in ok(env, "todo", "import", str(tmp_path / "out.json"))
    assert "Undid import" in ok(env, "todo", "undo")


def test_import_todotxt_and_a_bad_line(live_server: LiveServer, tmp_path: Path) -> None:
    env = live_server.env
    good = tmp_path / "todo.txt"
    good.write_text(
        "(A) 2026-01-01 Call mom +family @phone due:2026-02-03\n"
        "\n"
        "x 2026-01-05 2026-01-02 Pay rent +home\n"
    )
    assert "Imported 2" in ok(env, "todo", "import", str(good))
    assert "skipped 2" in ok(env, "todo", "import", str(good))
    listed = {t["title"]: t for t in json.loads(ok(env, "todo", "list", "--json"))}
    mom, rent = listed["Call mom"], listed["Pay rent"]
    assert (mom["priority"], mom["project"], mom["tags"]) == ("HIGH", "family", ["phone"])
    assert mom["due"].startswith("2026-02-0") and mom["createdAt"].startswith("2026-01-01")
    assert rent["completed"] is True and rent["project"] == "home"

    bad = tmp_path / "bad.json"
    bad.write_text('[\n  {"title": "fine"},\n  {"title": "x", "priority": "urgent"}\n]\n')
    result = cli(env, "todo", "import", str(bad))
    assert result.returncode == 2 and "Line 3" in one_error_line(result)
    server_side = tmp_path / "empty_title.txt"
    server_side.write_text("ok one\n(A) 2026-01-01 @only-a-tag\nfine\n")
    result = cli(env, "todo", "import", str(server_side))
    assert result.returncode == 2 and "Line 2" in one_error_line(result)
    assert len(json.loads(ok(env, "todo", "list", "--json"))) == 2  # nothing more
