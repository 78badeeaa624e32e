"""An open edit form against list reloads, in a real browser (Debian's chromium)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.live import LiveServer
from tests.web.conftest import Session

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_an_open_edit_survives_a_list_reload_and_closes_on_escape(
    session_for: Callable[..., Session], model_server: LiveServer
) -> None:
    for title in ("edit me", "reload trigger"):
        done = subprocess.run(
            [sys.executable, "-m", "chatbot_cli", "todo", "add", title],
            env=model_server.env, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
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
