"""Request validation: the wire models alone, and through the app's 400 envelope handler."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from chatbot_cli.server.protocol import ChatCompletionRequest
from tests.server.test_openai_serving import ScriptedEngine, client, make_app

USER = [{"role": "user", "content": "hi"}]


def parse(**kw: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": USER, **kw})


def test_defaults() -> None:
    req = parse()
    assert (req.n, req.stream, req.stop, req.token_limit, req.include_usage) == (
        1,
        False,
        None,
        None,
        False,
    )


def test_content_parts_are_joined_and_developer_is_system() -> None:
    req = ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
            ],
        }
    )
    assert [(m.role, m.content) for m in req.messages] == [("system", "be brief"), ("user", "ab")]


def test_stop_string_becomes_list_and_extra_fields_are_ignored() -> None:
    req = parse(stop="\n", logit_bias={"1": 2}, tools=None)
    assert req.stop == ["\n"]


@pytest.mark.parametrize(
    "max_tokens,max_completion_tokens,limit",
    [(0, None, None), (None, 0, None), (5, None, 5), (None, 6, 6), (5, 6, 5)],
)
def test_token_limit(
    max_tokens: int | None, max_completion_tokens: int | None, limit: int | None
) -> None:
    req = parse(max_tokens=max_tokens, max_completion_tokens=max_completion_tokens)
    assert req.token_limit == limit


def test_include_usage() -> None:
    assert parse(stream=True, stream_options={"include_usage": True}).include_usage


INVALID: list[tuple[dict[str, Any], str | None]] = [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages[0].content"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": "hi"}, "messages"),
    ({"model": ""}, "model"),
    ({"temperature": 2.5}, "temperature"),
    ({"temperature": "hot"}, "temperature"),
    ({"top_p": -0.1}, "top_p"),
    ({"n": 0}, "n"),
    ({"n": 9}, "n"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"max_tokens": "many"}, "max_tokens"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": [""]}, "stop"),
    ({"presence_penalty": 3}, "presence_penalty"),
    ({"frequency_penalty": -2.5}, "frequency_penalty"),
    ({"stream": "maybe"}, "stream"),
    ({"seed": 2**64}, "seed"),
    ({"messages": [{"role": "user", "content": "\ud800"}]}, "messages[0].content"),
    (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "\udfff"}]}]},
        "messages[0].content",
    ),
    ({"stop": ["\udc00"]}, "stop"),
]


@pytest.mark.parametrize("patch,param", INVALID)
def test_invalid_requests_fail_validation(patch: dict[str, Any], param: str | None) -> None:
    with pytest.raises(ValidationError):
        parse(**patch)


@pytest.mark.anyio
@pytest.mark.usefixtures("migrated_database")
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_invalid_requests_are_400_envelopes_with_param(anyio_backend: str) -> None:
    async with client(make_app(ScriptedEngine())) as c:
        for patch, param in INVALID:
            payload = {"model": "tiny", "messages": USER, **patch}
            # json.dumps escapes lone surrogates, which httpx's json= would refuse to encode.
            r = await c.post(
                "/v1/chat/completions",
                content=json.dumps(payload),
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 400, (patch, r.text)
            data = r.json()
            assert "detail" not in data
            assert data["error"]["type"] == "invalid_request_error", patch
            if param is not None:
                assert data["error"]["param"] == param, (patch, data)
            assert data["error"]["message"], patch
        missing = await c.post("/v1/chat/completions", json={"messages": USER})
        assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"
        for raw, ctype in [
            (b"{not json", "application/json"),
            (b'{"model": "tiny", "messages": []}', "text/plain"),
            (b"[1, 2]", "application/json"),
            (b'"hi"', "application/json"),
            (b"", "application/json"),
            (b"model=tiny", "application/x-www-form-urlencoded"),
        ]:
            r = await c.post("/v1/chat/completions", content=raw, headers={"Content-Type": ctype})
            assert r.status_code == 400, (raw, ctype, r.text)
            data = r.json()
            assert "detail" not in data and data["error"]["type"] == "invalid_request_error"
            assert data["error"]["message"]
