"""The page's History pane and its chat's logging, in a real browser against `chatbot serve`.

The scripted server (`--no-auth`, one owner) is shared with test_page.py, whose chats are kept
too: these tests look only at the conversations they make, by words no other test writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.live import LiveServer
from tests.scripted_upstream import ANSWER
from tests.web.conftest import Session

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

Factory = Callable[..., Session]
HOSTILE = "<img src=x onerror=alert(1)> walrus tusks"


def gql(server: LiveServer, query: str, **variables: Any) -> dict[str, Any]:
    """One GraphQL call as another client would make it; returns `data`, or the errors."""
    headers = {} if "--no-auth" in server.extra_args else server.headers
    body = httpx.post(
        server.url + "/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=10,
    ).json()
    return body.get("data") or {"errors": body["errors"]}


def search(server: LiveServer, words: str) -> list[dict[str, Any]]:
    found = gql(
        server,
        "query($s: String) { conversations(search: $s, first: 100) "
        "{ nodes { id name messageCount } } }",
        s=words,
    )
    return found["conversations"]["nodes"]  # type: ignore[no-any-return]


def stored(server: LiveServer, conversation_id: str) -> dict[str, Any]:
    found = gql(
        server,
        "query($id: ID!) { conversation(id: $id) { name messages { role content } } }",
        id=conversation_id,
    )
    return found.get("conversation") or found


def eventually(read: Callable[[], Any], want: Callable[[Any], bool], timeout: float = 10) -> Any:
    """The server stores a turn just after its answer ends: poll until it is there."""
    deadline = time.monotonic() + timeout
    value = read()
    while not want(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    assert want(value), value
    return value


def imported(server: LiveServer, user: str, answer: str, name: str | None = None) -> str:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    done = gql(
        server,
        "mutation($m: [MessageInput!]!, $n: String) "
        '{ importConversation(messages: $m, model: "scripted", name: $n) { id } }',
        m=messages,
        n=name,
    )
    return done["importConversation"]["id"]  # type: ignore[no-any-return]


def ask(page: Page, text: str) -> dict[str, Any]:
    """Send `text` from the chat box, wait for the whole answer; returns the request's body."""
    with page.expect_request("**/v1/chat/completions") as sent:
        page.get_by_label("Message", exact=True).fill(text)
        page.get_by_label("Message", exact=True).press("Enter")
    expect(page.locator(".message.assistant.streaming")).to_have_count(0)
    expect(page.locator(".message.failed, .message.stopped")).to_have_count(0)
    return sent.value.post_data_json  # type: ignore[no-any-return]


def test_the_chat_is_kept_then_continued_from_history_into_the_same_conversation(
    session_for: Factory, scripted_server: LiveServer
) -> None:
    page = session_for(scripted_server).sign_in()
    first = ask(page, "tell me about okapis")
    assert first["store"] is True and "conversation" not in first
    line = page.locator("#chat-conversation")
    expect(line).to_have_text("Kept in History as “tell me about okapis”.")
    [found] = eventually(lambda: search(scripted_server, "okapis"), lambda n: len(n) == 1)
    cid = found["id"]
    second = ask(page, "and their stripes?")  # the next turn goes into the same conversation
    assert second["conversation"] == cid
    eventually(lambda: stored(scripted_server, cid)["messages"], lambda m: len(m) == 4)

    page.get_by_role("button", name="New chat").click()
    page.get_by_role("tab", name="History").click()
    page.get_by_role("button", name="tell me about okapis", exact=True).click()
    view = page.locator("#history-messages .message")
    expect(view).to_have_count(4)
    expect(view.nth(2).locator(".body")).to_have_text("and their stripes?")
    expect(view.nth(1).locator(".body strong")).to_have_text("bold")  # Markdown, made safe
    assert page.locator("#history-messages script, #history-messages img").count() == 0

    page.get_by_role("button", name="Continue in chat").click()
    expect(page.get_by_role("tab", name="Chat")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#messages .message")).to_have_count(4)
    expect(line).to_have_text("Kept in History as “tell me about okapis”.")
    third = ask(page, "where do they live?")
    # It sends the stored context (the last turn's input and answer), as `chat --cid` does.
    assert third["conversation"] == cid
    assert [m["content"] for m in third["messages"]] == [
        "tell me about okapis",
        ANSWER,
        "and their stripes?",
        ANSWER,
        "where do they live?",
    ]
    messages = eventually(lambda: stored(scripted_server, cid)["messages"], lambda m: len(m) == 6)
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3
    assert len(search(scripted_server, "okapis")) == 1

    # With logging off the page sends nothing to keep, and leaves the stored conversation.
    page.get_by_text("Model and system prompt").click()
    page.get_by_label("Keep the chat in History").uncheck()
    expect(line).to_contain_text("Not kept in History")
    fourth = ask(page, "a secret about okapis")
    assert "store" not in fourth and "conversation" not in fourth
    page.reload()  # the choice is kept, like the other settings
    expect(page.get_by_label("Keep the chat in History")).not_to_be_checked()


def test_history_pages_searches_and_shows_server_text_as_text(
    session_for: Factory, scripted_server: LiveServer, output_dir: Path
) -> None:
    titles = [f"walrus note {i}" for i in range(22)]
    for title in titles:
        imported(scripted_server, title, f"Part {title[-2:]}.")
    hostile = imported(
        scripted_server, HOSTILE, "<script>alert(2)</script>\n\nSome **strong** words."
    )
    page = session_for(scripted_server).sign_in()
    page.get_by_role("tab", name="History").click()
    items = page.locator("#history-list .conversation")
    expect(items).to_have_count(20)  # one page, newest first
    expect(items.first.locator(".open")).to_have_text(HOSTILE)
    expect(items.nth(1).locator(".open")).to_have_text(titles[-1])
    assert page.locator("#history-list img").count() == 0
    page.get_by_role("button", name="More").click()
    expect(items.filter(has_text="walrus note 0")).to_have_count(1)
    assert items.count() > 20

    page.get_by_label("Search conversations").fill("walrus")
    page.get_by_label("Search conversations").press("Enter")
    expect(items).to_have_count(20)
    page.get_by_role("button", name="More").click()
    expect(items).to_have_count(23)
    expect(page.get_by_role("button", name="More")).to_be_hidden()
    marks = page.locator("#history-list .snippet mark")
    expect(marks.first).to_have_text("walrus", ignore_case=True)
    snippet = items.filter(has_text=HOSTILE).locator(".snippet")
    expect(snippet).to_contain_text("<img src=x onerror=alert(1)>")
    assert page.locator("#history-list img, #history-list script").count() == 0

    page.get_by_label("Search conversations").fill("nosuchwordanywhere")
    expect(page.locator("#history-empty")).to_have_text(
        "No conversation matches “nosuchwordanywhere”."
    )
    page.get_by_label("Search conversations").fill('"walrus tusks"')
    expect(items).to_have_count(1)
    items.locator(".open").click()
    expect(page.locator("#history-title")).to_have_text(HOSTILE)
    view = page.locator("#history-messages")
    expect(view.locator(".message.user .body")).to_have_text(HOSTILE)
    expect(view.locator(".message.assistant .body strong")).to_have_text("strong")
    expect(view.locator(".message.assistant .body")).to_contain_text("<script>alert(2)</script>")
    assert view.locator("img, script").count() == 0
    page.screenshot(path=str(output_dir / "history-conversation.png"))
    page.get_by_role("button", name="Back to the list").click()
    expect(items).to_have_count(1)  # the search and its results are still there
    assert stored(scripted_server, hostile)["messages"][0]["content"] == HOSTILE


def test_rename_refused_keeps_the_text_and_delete_asks_first(
    session_for: Factory, scripted_server: LiveServer
) -> None:
    imported(scripted_server, "an older heron chat", "Herons wade.", name="herons")
    cid = imported(scripted_server, "tell me about egrets", "Egrets are **white**.")
    page = session_for(scripted_server).sign_in()
    page.get_by_role("tab", name="History").click()
    page.get_by_role("button", name="tell me about egrets", exact=True).click()

    page.get_by_role("button", name="Rename", exact=True).click()
    name = page.get_by_label("Name", exact=True)
    name.fill("herons")  # another conversation has it
    name.press("Enter")
    expect(page.locator("#history-error")).to_have_text(
        "You already have a conversation named 'herons'."
    )
    assert name.input_value() == "herons"
    name.fill("egrets")
    name.press("Enter")
    expect(page.locator("#history-title")).to_have_text("egrets")
    expect(page.locator("#history-error")).to_be_empty()
    assert stored(scripted_server, cid)["name"] == "egrets"

    # The chat goes on in it; deleting it then empties the chat as well.
    page.get_by_role("button", name="Continue in chat").click()
    expect(page.locator("#messages .message")).to_have_count(2)
    page.get_by_role("tab", name="History").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    confirm = page.get_by_role("group", name="Delete “egrets” and its 2 messages?")
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Keep it").click()
    expect(confirm).to_be_hidden()
    assert stored(scripted_server, cid)["name"] == "egrets"
    page.get_by_role("button", name="Delete", exact=True).click()
    confirm.get_by_role("button", name="Delete for good").click()
    expect(page.get_by_role("status")).to_have_text("Deleted “egrets”.")
    expect(page.get_by_role("button", name="egrets", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="herons", exact=True)).to_be_visible()
    assert stored(scripted_server, cid)["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    page.get_by_role("tab", name="Chat").click()
    expect(page.locator("#messages .message")).to_have_count(0)
    expect(page.locator("#chat-conversation")).to_contain_text("A new conversation")
