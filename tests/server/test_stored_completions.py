"""OpenAI's stored chat completions through the official `openai` SDK, unmodified, against a
real server on SQLite and on PostgreSQL: create with store/metadata, list with its cursor pages
and filters, retrieve, update, delete, messages.list; owners isolated; bad input refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.db.pg import database_urls
from tests.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("stored")
    for url in database_urls(request.param, home):
        live = LiveServer(
            home=home, model=tiny_model, extra_env={"CHATBOT_DATABASE_URL": url}
        ).start()
        try:
            yield live
        finally:
            live.kill()


@pytest.fixture
def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key, max_retries=0)


def wait_stored(sdk: openai.OpenAI, completion_id: str) -> openai.types.chat.ChatCompletion:
    deadline = time.monotonic() + 10
    while True:
        try:
            return sdk.chat.completions.retrieve(completion_id)
        except openai.NotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_store_list_retrieve_update_delete(sdk: openai.OpenAI) -> None:
    made = []
    for i in range(3):
        out = sdk.chat.completions.create(
            model="default",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"question {i}"},
            ],
            max_tokens=4,
            store=True,
            metadata={"run": "sdk", "i": str(i)},
        )
        made.append(out)
    got = wait_stored(sdk, made[-1].id)
    assert got.id == made[-1].id
    assert got.choices[0].message.content == made[-1].choices[0].message.content
    assert got.usage is not None and got.usage.completion_tokens == 4
    assert got.metadata == {"run": "sdk", "i": "2"}

    ids = [c.id for c in sdk.chat.completions.list(metadata={"run": "sdk"}, limit=2)]
    assert ids[-3:] == [c.id for c in made]  # the SDK follows the cursor pages
    page = sdk.chat.completions.list(metadata={"run": "sdk", "i": "1"})
    assert [c.id for c in page.data] == [made[1].id] and page.has_more is False
    newest = sdk.chat.completions.list(order="desc", limit=1, model="default")
    assert newest.data[0].id == made[-1].id

    messages = list(sdk.chat.completions.messages.list(made[0].id, limit=1))
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Be brief."),
        ("user", "question 0"),
    ]

    updated = sdk.chat.completions.update(made[0].id, metadata={"kept": "yes"})
    assert updated.metadata == {"kept": "yes"}
    assert sdk.chat.completions.retrieve(made[0].id).metadata == {"kept": "yes"}

    deleted = sdk.chat.completions.delete(made[0].id)
    assert deleted.deleted is True and deleted.id == made[0].id
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.retrieve(made[0].id)
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.delete(made[0].id)


def test_stream_is_stored_when_it_ends_and_when_it_is_cut(
    sdk: openai.OpenAI, server: LiveServer
) -> None:
    stream = sdk.chat.completions.create(
        model="default",
        messages=[{"role": "user", "content": "stream me"}],
        max_tokens=8,
        store=True,
        stream=True,
    )
    pieces, cid = [], None
    for chunk in stream:
        cid = chunk.id
        pieces += [c.delta.content or "" for c in chunk.choices]
    assert cid is not None
    got = wait_stored(sdk, cid)
    assert got.choices[0].message.content == "".join(pieces)
    assert got.usage is not None and got.usage.completion_tokens == 8
    assert got.model_extra is not None and got.model_extra["complete"] is True

    # Cut: the client leaves after the first content chunk of a long answer. The tiny model may
    # finish before the server notices, so a few tries; a finished one is stored as complete.
    for _ in range(5):
        conversation, cut_id = _leave_early(server)
        cut = wait_stored(sdk, cut_id)
        assert cut.model_extra is not None
        assert cut.model_extra["conversation_id"] == conversation
        if cut.model_extra["complete"] is False:
            assert cut.choices[0].finish_reason is None
            assert cut.choices[0].message.content
            break
        assert cut.choices[0].finish_reason is not None
    else:
        pytest.fail("the server never saw a client leave mid-stream")


def _leave_early(server: LiveServer) -> tuple[str, str]:
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        headers=server.headers,
        json={
            "model": "default",
            "messages": [{"role": "user", "content": "a long one"}],
            "max_tokens": 2000,
            "stream": True,
            "store": True,
        },
        timeout=30,
    ) as response:
        conversation = response.headers["x-conversation-id"]
        for line in response.iter_lines():
            if line.startswith("data:") and '"content":"' in line and '"content":""' not in line:
                return conversation, line.split('"id":"', 1)[1].split('"', 1)[0]
    raise AssertionError("no content came")


def test_a_turn_continues_its_conversation(sdk: openai.OpenAI, server: LiveServer) -> None:
    first = sdk.chat.completions.with_raw_response.create(
        model="default",
        messages=[{"role": "user", "content": "first"}],
        max_tokens=2,
        store=True,
    )
    conversation = first.headers["x-conversation-id"]
    answer = first.parse().choices[0].message.content or ""
    # At once, before the first turn may be written: the server knows it is coming.
    second = sdk.chat.completions.create(
        model="default",
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "second"},
        ],
        max_tokens=2,
        store=True,
        extra_body={"conversation": conversation},
    )
    got = wait_stored(sdk, second.id)
    assert got.model_extra is not None and got.model_extra["conversation_id"] == conversation
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(
            model="default",
            messages=[{"role": "user", "content": "x"}],
            store=True,
            extra_body={"conversation": "conv_000000000000000000000000"},
        )


def test_owners_are_isolated_and_bad_input_is_a_400(sdk: openai.OpenAI, server: LiveServer) -> None:
    out = sdk.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "mine"}], max_tokens=2, store=True
    )
    wait_stored(sdk, out.id)
    made = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "keys", "create", "bob", "--json"],
        env=server.env,
        capture_output=True,
        text=True,
        check=True,
    )
    bob = openai.OpenAI(
        base_url=server.url + "/v1", api_key=json.loads(made.stdout)["key"], max_retries=0
    )
    with pytest.raises(openai.NotFoundError):
        bob.chat.completions.retrieve(out.id)
    with pytest.raises(openai.NotFoundError):
        bob.chat.completions.update(out.id, metadata={"x": "y"})
    with pytest.raises(openai.NotFoundError):
        bob.chat.completions.delete(out.id)
    with pytest.raises(openai.NotFoundError):
        list(bob.chat.completions.messages.list(out.id))
    assert out.id not in [c.id for c in bob.chat.completions.list()]

    for metadata, param in (
        ({f"k{i}": "v" for i in range(17)}, "metadata"),
        ({"k" * 65: "v"}, "metadata." + "k" * 65),
        ({"k": "v" * 513}, "metadata.k"),
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.chat.completions.create(
                model="default",
                messages=[{"role": "user", "content": "x"}],
                store=True,
                metadata=metadata,
            )
        assert caught.value.param == param
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.update(out.id, metadata={"k": "v" * 513})
    assert bad.value.param == "metadata.k"
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.list(limit=101)
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.list(after="chatcmpl-nothing")
    with pytest.raises(openai.BadRequestError) as order:
        sdk.chat.completions.list(order="sideways")  # type: ignore[arg-type]
    assert order.value.param == "order"
