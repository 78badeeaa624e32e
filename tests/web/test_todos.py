"""The Todos pane in a real browser (Debian's chromium) against real `chatbot serve` processes,
checked against what the CLI sees on the same server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.live import LiveServer
from tests.web.conftest import Session

# The first test's set-up may install chromium with apt-get (tests/web/browser.py).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

Factory = Callable[..., Session]


def cli(server: LiveServer, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", *args],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def cli_todos(server: LiveServer) -> list[dict[str, object]]:
    return json.loads(cli(server, "todo", "list", "--json"))  # type: ignore[no-any-return]


def test_todos_add_complete_edit_delete_seen_by_the_cli(
    session_for: Factory, model_server: LiveServer
) -> None:
    page = session_for(model_server).sign_in()
    page.get_by_role("tab", name="Todos").click()
    new = page.get_by_label("New todo")
    for title in ("buy milk", "walk the dog"):
        new.fill(title)
        new.press("Enter")
        expect(page.get_by_text(title, exact=True)).to_be_visible()
    titles = {t["title"]: t for t in cli_todos(model_server)}
    assert {"buy milk", "walk the dog"} <= titles.keys()

    page.get_by_role("checkbox", name="Completed: buy milk").check()
    expect(page.get_by_role("status")).to_have_text("Completed “buy milk”.")
    assert {t["title"]: t["completed"] for t in cli_todos(model_server)}["buy milk"] is True

    page.get_by_label("Show").select_option("Pending")
    expect(page.get_by_text("buy milk", exact=True)).to_have_count(0)
    expect(page.get_by_text("walk the dog", exact=True)).to_be_visible()
    page.get_by_label("Show").select_option("All")
    page.get_by_label("Search todos").fill("MILK")
    expect(page.get_by_text("walk the dog", exact=True)).to_have_count(0)
    page.get_by_label("Search todos").fill("")

    page.get_by_role("button", name="Edit “walk the dog”").click()
    edit = page.get_by_label("New title for “walk the dog”")
    edit.fill("   ")
    edit.press("Enter")  # refused: the typed text stays for the user to fix
    expect(page.locator("#todo-error")).not_to_be_empty()
    edit.fill("walk the cat")
    edit.press("Enter")
    expect(page.get_by_text("walk the cat", exact=True)).to_be_visible()

    page.get_by_role("button", name="Delete “buy milk”").click()
    expect(page.get_by_text("buy milk", exact=True)).to_have_count(0)
    assert [t["title"] for t in cli_todos(model_server) if "walk" in str(t["title"])] == [
        "walk the cat"
    ]
    assert "buy milk" not in {t["title"] for t in cli_todos(model_server)}


def test_todo_details_set_shown_sorted_and_edited_without_touching_the_rest(
    session_for: Factory, model_server: LiveServer
) -> None:
    # Made by the CLI with a due time to the second, which the page's inputs do not show.
    precise = json.loads(
        cli(model_server, "todo", "add", "file taxes", "--due", "2031-05-06T07:08:09Z", "--json")
    )
    page = session_for(model_server).sign_in()
    page.get_by_role("tab", name="Todos").click()
    page.get_by_label("New todo", exact=True).fill("pay rent")
    page.get_by_text("Due, priority, tags, project").click()
    page.get_by_label("Due of the todo to add").fill("2020-01-02T09:30")
    page.get_by_label("Priority of the todo to add").select_option("high")
    page.get_by_label("Tags of the todo to add").fill("home, bills")
    page.get_by_label("Project of the todo to add").fill("house")
    page.get_by_label("New todo", exact=True).press("Enter")
    rent = page.locator("li.todo", has_text="pay rent")
    expect(rent).to_contain_text("high priority")
    expect(rent).to_contain_text("overdue since")
    expect(rent).to_contain_text("project house")
    expect(rent).to_contain_text("#bills")
    expect(rent).to_have_class(re.compile(r"\boverdue\b"))
    stored = {t["title"]: t for t in cli_todos(model_server)}["pay rent"]
    assert stored["priority"] == "HIGH" and stored["project"] == "house"
    assert sorted(stored["tags"]) == ["bills", "home"]  # type: ignore[arg-type]
    assert str(stored["due"]).startswith("2020-01-02")
    # The form was emptied for the next todo.
    expect(page.get_by_label("Priority of the todo to add")).to_have_value("NONE")

    page.get_by_label("Sort by").select_option("Urgency")
    expect(page.locator("li.todo .title").first).to_have_text("pay rent")

    page.get_by_role("button", name="Edit “pay rent”").click()
    page.get_by_label("Priority of “pay rent”").select_option("low")
    page.get_by_label("Tags of “pay rent”").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved “pay rent”.")
    stored = {t["title"]: t for t in cli_todos(model_server)}["pay rent"]
    assert stored["priority"] == "LOW" and stored["tags"] == [] and stored["project"] == "house"

    page.get_by_role("button", name="Edit “file taxes”").click()
    page.get_by_label("New title for “file taxes”").fill("file the taxes")
    page.get_by_label("New title for “file taxes”").press("Enter")
    expect(page.get_by_text("file the taxes", exact=True)).to_be_visible()
    after = {t["id"]: t for t in cli_todos(model_server)}[precise["id"]]
    assert after["title"] == "file the taxes" and after["due"] == precise["due"]


def test_an_open_edit_survives_a_list_reload_and_closes_on_escape(
    session_for: Factory, model_server: LiveServer
) -> None:
    for title in ("edit me", "reload trigger"):
        cli(model_server, "todo", "add", title)
    page = session_for(model_server).sign_in()
    page.get_by_role("tab", name="Todos").click()
    page.get_by_role("button", name="Edit “edit me”").click()
    field = page.get_by_label("New title for “edit me”")
    field.fill("half typed")
    # Another todo's change reloads the list while the form is open: the form and what was
    # typed in it stay.
    page.get_by_label("Completed: reload trigger").check()
    expect(page.get_by_role("status")).to_have_text("Completed “reload trigger”.")
    expect(field).to_have_value("half typed")
    field.press("Escape")
    expect(field).to_have_count(0)
    expect(page.locator("li.todo .title", has_text="edit me")).to_have_count(1)
