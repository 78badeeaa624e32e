"""The page in a real browser (Debian's chromium) against real `chatbot serve` processes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.live import LiveServer
from tests.scripted_upstream import CODE, UpstreamState
from tests.web.conftest import DESKTOP, PHONE, Session

# The first test's set-up may install chromium with apt-get (tests/web/browser.py).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

Factory = Callable[..., Session]
XSS_TITLE = "<img src=x onerror=alert(1)>"


def metric(server: LiveServer, name: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    found = re.search(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def cancelled(server: LiveServer) -> float:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    found = re.search(
        r'^chatbot_chat_completions_total\{outcome="cancelled",stream="true"\} (\S+)$',
        text,
        re.MULTILINE,
    )
    return float(found.group(1)) if found else 0.0


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def ask(page: Page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def test_wrong_key_is_refused_then_the_right_one_is_kept(
    session_for: Factory, model_server: LiveServer
) -> None:
    s = session_for(model_server)
    page = s.open()
    key = page.get_by_label("API key", exact=True)
    expect(key).to_be_visible()
    assert unnamed_controls(s) == []
    key.fill("sk-not-the-key")
    page.get_by_role("button", name="Use this key").click()
    expect(page.get_by_role("alert").filter(has_text="refused")).to_contain_text(
        "The server refused this key: Incorrect API key provided."
    )
    expect(page.get_by_role("tab", name="Chat")).to_be_hidden()

    key.fill(model_server.api_key)
    page.get_by_role("button", name="Use this key").click()
    expect(page.get_by_role("tab", name="Chat")).to_be_visible()
    expect(page.get_by_label("Model", exact=True)).to_have_value("tiny")
    page.reload()  # the key is kept in this browser
    expect(page.get_by_role("tab", name="Chat")).to_be_visible()
    page.set_viewport_size(PHONE)  # the header with "Forget key" still fits
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.get_by_role("button", name="Forget key").click()
    expect(page.get_by_label("API key", exact=True)).to_be_visible()
    page.reload()
    expect(page.get_by_label("API key", exact=True)).to_be_visible()


def test_streams_then_esc_stops_and_the_slot_is_freed(
    session_for: Factory, model_server: LiveServer
) -> None:
    page = session_for(model_server).sign_in()
    before = cancelled(model_server)
    ask(page, "Tell me a long story")  # no max_tokens: the tiny model writes for seconds
    answer = page.locator(".message.assistant.streaming .body")
    expect(answer).not_to_be_empty()
    first = len(answer.inner_text())
    assert wait_until(lambda: len(answer.inner_text()) > first), "the text did not grow"
    assert metric(model_server, "chatbot_engine_busy_slots") == 1
    expect(page.get_by_role("button", name="Stop")).to_be_enabled()

    page.keyboard.press("Escape")
    expect(page.locator(".message.assistant.stopped")).to_have_count(1)
    expect(page.get_by_role("button", name="Stop")).to_be_disabled()
    assert wait_until(lambda: metric(model_server, "chatbot_engine_busy_slots") == 0, 3)
    assert wait_until(lambda: cancelled(model_server) == before + 1, 3)
    # The partial answer stays, and the next message is sent with it as history.
    assert page.locator(".message.assistant .body").inner_text().strip()


def test_enter_sends_shift_enter_adds_a_line_and_the_answer_completes(
    session_for: Factory, model_server: LiveServer
) -> None:
    page = session_for(model_server).sign_in()
    page.get_by_text("Model and system prompt").click()
    page.get_by_label("System prompt").fill("You are terse.")
    page.get_by_label("Max tokens").fill("12")
    box = page.get_by_label("Message", exact=True)
    box.fill("first line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    assert box.input_value() == "first line\nsecond line"
    box.press("Enter")
    expect(page.locator(".message.user .body")).to_have_text("first line\nsecond line")
    expect(page.locator(".message.assistant")).to_have_count(1)
    expect(page.locator(".message.assistant.streaming")).to_have_count(0)
    expect(page.locator(".message.assistant .body")).not_to_be_empty()
    expect(page.locator(".message.assistant.stopped, .message.failed")).to_have_count(0)
    assert box.input_value() == ""
    page.reload()  # the settings stay, the conversation goes
    expect(page.locator(".message")).to_have_count(0)
    expect(page.get_by_label("System prompt")).to_have_value("You are terse.")
    expect(page.get_by_label("Max tokens")).to_have_value("12")


def test_hostile_todo_title_and_model_answer_are_shown_as_text(
    session_for: Factory, scripted_server: LiveServer
) -> None:
    s = session_for(scripted_server, permissions=["clipboard-read", "clipboard-write"])
    page = s.sign_in()
    page.get_by_role("tab", name="Todos").click()
    page.get_by_label("New todo").fill(XSS_TITLE)
    page.get_by_label("New todo").press("Enter")
    expect(page.locator("#todo-list .title")).to_have_text([XSS_TITLE])
    assert page.locator("#todo-list img").count() == 0

    page.get_by_role("tab", name="Chat").click()
    ask(page, "anything")
    body = page.locator(".message.assistant .body")
    expect(page.locator(".message.assistant.streaming")).to_have_count(0)
    expect(body).to_contain_text("<script>alert(1)</script>")
    expect(body).to_contain_text("Inline <img src=x onerror=alert(2)> too.")
    assert body.locator("script, img, iframe").count() == 0
    expect(body.locator("strong")).to_have_text("bold")
    expect(body).to_contain_text("a link")
    assert body.locator("a[href^='javascript' i]").count() == 0

    body.get_by_role("button", name="Copy code").click()
    expect(body.get_by_role("button", name="Copy code")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").strip() == CODE


def test_stop_button_aborts_the_upstream_request(
    session_for: Factory, scripted_server: LiveServer, upstream: UpstreamState
) -> None:
    page = session_for(scripted_server).sign_in()
    page.get_by_text("Model and system prompt").click()
    page.get_by_label("Model", exact=True).select_option("endless")
    page.reload()  # the chosen model is remembered
    expect(page.get_by_label("Model", exact=True)).to_have_value("endless")
    upstream.disconnected.clear()
    ask(page, "go on forever")
    expect(page.locator(".message.assistant.streaming .body")).to_contain_text("tick")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(".message.assistant.stopped")).to_have_count(1)
    assert upstream.disconnected.wait(3), "the server kept reading from its upstream"
    assert wait_until(lambda: metric(scripted_server, "chatbot_engine_busy_slots") == 0, 3)


def test_no_auth_server_needs_no_key(session_for: Factory, scripted_server: LiveServer) -> None:
    page = session_for(scripted_server).open("/#todos")
    expect(page.get_by_role("tab", name="Todos")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("button", name="Forget key")).to_be_hidden()
    expect(page.get_by_label("API key", exact=True)).to_be_hidden()
    page.get_by_label("New todo").fill("no key needed")
    page.get_by_label("New todo").press("Enter")
    expect(page.get_by_text("no key needed", exact=True)).to_be_visible()
    page.get_by_role("tab", name="Chat").click()
    ask(page, "hello")
    expect(page.locator(".message.assistant .body strong")).to_have_text("bold")


def test_an_answer_that_breaks_off_keeps_its_words_and_says_so(
    session_for: Factory, scripted_server: LiveServer
) -> None:
    page = session_for(scripted_server).sign_in()
    page.get_by_text("Model and system prompt").click()
    page.get_by_label("Model", exact=True).select_option("dies")
    ask(page, "start")
    expect(page.locator(".message.assistant.failed .body")).to_have_text("partial answer")
    expect(page.locator("#chat-error")).not_to_be_empty()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_a_refused_request_gives_the_message_back(
    session_for: Factory, scripted_server: LiveServer
) -> None:
    s = session_for(scripted_server)
    envelope = {
        "error": {"message": "Server busy: retry later.", "type": "server_error", "param": None}
    }
    s.page.route(
        "**/v1/chat/completions",
        lambda route: route.fulfill(status=503, json=envelope, headers={"Retry-After": "1"}),
    )
    page = s.sign_in()
    ask(page, "keep this text\nand this line")
    expect(page.locator("#chat-error")).to_have_text("Server busy: retry later.")
    expect(page.locator(".message")).to_have_count(0)
    assert page.get_by_label("Message", exact=True).input_value() == "keep this text\nand this line"


# Feeds sse.js's eventData a body cut into the given pieces; returns the events' data.
SSE_IN_PAGE = """
async (pieces) => {
  const { eventData } = await import("/ui/js/sse.js");
  const encoder = new TextEncoder();
  const body = new ReadableStream({
    start(controller) {
      for (const piece of pieces) controller.enqueue(encoder.encode(piece));
      controller.close();
    },
  });
  const out = [];
  for await (const data of eventData(new Response(body))) out.push(data);
  return out;
}
"""


@pytest.mark.parametrize(
    "pieces,events",
    [
        (["data: a\n\ndata:[DONE]\n\n"], ["a", "[DONE]"]),
        (["data: a\r", "\n\r\ndata: b\r\rdata: c\n\n"], ["a", "b", "c"]),
        ([": ping\n\n", "da", "ta: x\ndata: y\n", "\n"], ["x\ny"]),
        (["event: e\nid: 1\ndata\n\n", 'data: {"k": "é"}\n\n'], ["", '{"k": "é"}']),
        (["data: whole\n\ndata: cut off\n"], ["whole"]),
    ],
)
def test_sse_framing_in_the_page(
    session_for: Factory, scripted_server: LiveServer, pieces: list[str], events: list[str]
) -> None:
    page = session_for(scripted_server).open()
    assert page.evaluate(SSE_IN_PAGE, pieces) == events


def test_the_browser_enforces_the_policy(session_for: Factory, scripted_server: LiveServer) -> None:
    s = session_for(scripted_server)
    page = s.open()
    expect(page.get_by_role("tab", name="Chat")).to_be_visible()
    # Trusted Types: a plain string can no longer become HTML anywhere in the page.
    sink = "() => { try { document.createElement('div').innerHTML = '<b>x</b>'; return 'written' }"
    assert page.evaluate(sink + " catch (e) { return e.name } }") == "TypeError"
    # No inline script; no request to another origin.
    with pytest.raises(Exception, match="TrustedScript|Content Security Policy"):
        page.add_script_tag(content="window.inlineRan = true")
    assert page.evaluate("window.inlineRan === undefined")
    fetched = "fetch('http://127.0.0.2:9/x').then(() => 'fetched', (e) => e.name)"
    assert page.evaluate(fetched) == "TypeError"
    # The watcher saw the violations (so it would have seen any the tests above caused).
    assert wait_until(lambda: len(s.watched.errors) >= 2), s.watched.errors
    assert any("Trusted" in e for e in s.watched.errors), s.watched.errors
    assert any("connect-src" in e for e in s.watched.errors), s.watched.errors
    s.watched.errors.clear()
    s.watched.foreign.clear()


def test_todos_work_when_the_models_cannot_be_listed(
    session_for: Factory, scripted_server: LiveServer
) -> None:
    s = session_for(scripted_server)
    envelope = {"error": {"message": "upstream down", "type": "server_error", "param": None}}
    s.page.route("**/v1/models", lambda route: route.fulfill(status=502, json=envelope))
    page = s.open()
    expect(page.locator("#chat-error")).to_have_text(
        "The models could not be listed: upstream down"
    )
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    page.get_by_role("tab", name="Todos").click()
    page.get_by_label("New todo").fill("still works")
    page.get_by_label("New todo").press("Enter")
    expect(page.get_by_text("still works", exact=True)).to_be_visible()


def unnamed_controls(session: Session) -> list[str]:
    """Interactive nodes of the accessibility tree with no accessible name."""
    cdp = session.context.new_cdp_session(session.page)
    tree = cdp.send("Accessibility.getFullAXTree")["nodes"]
    interactive = {"button", "textbox", "combobox", "checkbox", "tab", "link", "searchbox"}
    bad = []
    for node in tree:
        role = node.get("role", {}).get("value")
        name = str(node.get("name", {}).get("value", "")).strip()
        if role in interactive and not node.get("ignored") and not name:
            bad.append(f"{role} {node.get('backendDOMNodeId')}")
    cdp.detach()
    return bad


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_both_panes_at_desktop_and_phone_width(
    session_for: Factory, scripted_server: LiveServer, output_dir: Path, scheme: str
) -> None:
    s = session_for(scripted_server, color_scheme=scheme)
    page = s.sign_in()
    page.get_by_role("tab", name="Todos").click()
    for title in ("water the plants", "file the taxes"):
        page.get_by_label("New todo").fill(title)
        page.get_by_label("New todo").press("Enter")
        expect(page.get_by_text(title, exact=True).first).to_be_visible()
    page.get_by_role("checkbox", name="Completed: file the taxes").first.check()
    page.get_by_role("tab", name="Chat").click()
    ask(page, "show me")
    expect(page.locator(".message.assistant.streaming")).to_have_count(0)
    expect(page.get_by_role("button", name="Copy code")).to_be_visible()

    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        for pane in ("Chat", "Todos", "History"):
            page.get_by_role("tab", name=pane).click()
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{pane} scrolls sideways at {width} width"
            assert unnamed_controls(s) == [], (pane, width)
            page.screenshot(path=str(output_dir / f"{pane.lower()}-{width}-{scheme}.png"))
    page.get_by_role("tab", name="Todos").click()
    page.get_by_role("button", name="Edit “water the plants”").first.click()
    assert unnamed_controls(s) == []
