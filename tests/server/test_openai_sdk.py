"""The official `openai` SDK, unmodified, against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(home=tmp_path_factory.mktemp("openai-sdk"), model=tiny_model).start()
    yield live
    live.kill()


@pytest.fixture
def sdk(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key, max_retries=0)


def test_non_stream_and_stream_agree(sdk: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Tell me a joke"}]
    whole = sdk.chat.completions.create(
        model="default",
        messages=messages,
        max_tokens=16,
        seed=1,  # type: ignore[arg-type]
    )
    assert whole.object == "chat.completion" and whole.model == "default"
    assert whole.choices[0].finish_reason == "length"
    assert whole.usage is not None and whole.usage.completion_tokens == 16
    text = whole.choices[0].message.content
    assert text

    stream = sdk.chat.completions.create(
        model="default",
        messages=messages,  # type: ignore[arg-type]
        max_tokens=16,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == text
    assert finish == "length"
    assert usage is not None and usage.completion_tokens == 16


def test_content_parts_and_max_completion_tokens(sdk: openai.OpenAI) -> None:
    out = sdk.chat.completions.create(
        model="tiny",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
        max_completion_tokens=4,
        n=2,
    )
    assert [c.index for c in out.choices] == [0, 1]
    assert out.usage is not None and out.usage.completion_tokens == 8


def test_models_list(sdk: openai.OpenAI) -> None:
    ids = [m.id for m in sdk.models.list()]
    assert ids == ["tiny"]
    assert sdk.models.retrieve("tiny").id == "tiny"


def test_errors_raise_the_sdk_exceptions(server: LiveServer, sdk: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "hi"}]
    wrong = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="default", messages=messages)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.chat.completions.create(
            model="default",
            messages=messages,
            temperature=5,  # type: ignore[arg-type]
        )
    assert bad.value.param == "temperature"  # type: ignore[attr-defined]
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    assert missing.value.code == "model_not_found"  # type: ignore[attr-defined]
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4o")
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(
            model="default",
            messages=messages,
            stream=True,
            n=99,  # type: ignore[arg-type]
        )
