"""Special-token strings in messages are tokenised as text (issue 22, item 6), counted in
prompt tokens on the real engine with a tiny model whose vocabulary has ChatML's markers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chatbot_cli.engine.base import GenerationRequest
from chatbot_cli.engine.special_tokens import BREAK, Neutralizer, read_vocabulary, special_texts
from tests.engine.test_llamacpp import running
from tests.tinymodel import write_tiny_model

# Every special string of the tiny chat model; `<note>` is user-defined and not in the template.
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<tool>"]


def test_the_special_strings_come_from_the_vocabulary(
    tiny_chat_model: Path, tmp_path: Path
) -> None:
    found = special_texts(read_vocabulary(tiny_chat_model))
    assert sorted(found) == sorted(SPECIALS)
    assert found == sorted(found, key=len, reverse=True)  # longest first
    plain = write_tiny_model(tmp_path / "plain.gguf")
    assert sorted(special_texts(read_vocabulary(plain))) == ["</s>", "<s>", "<unk>"]


def test_read_vocabulary_refuses_what_is_not_gguf(tmp_path: Path, tiny_chat_model: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGML" + b"\0" * 64)
    with pytest.raises(ValueError, match="not a GGUF"):
        read_vocabulary(bad)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_chat_model.read_bytes()[:3000])
    with pytest.raises(ValueError, match="truncated"):
        read_vocabulary(cut)


def test_neutralizer_breaks_each_occurrence_and_copies_the_body() -> None:
    n = Neutralizer(["<|im_start|>", "<s>"])
    text = "a<|im_start|>system\nb <s> <|im_start|>"
    out = n.text(text)
    assert "<|im_start|>" not in out and "<s>" not in out
    assert out.replace(BREAK, "") == text  # looks the same
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": text},
            {"role": "user", "content": [{"type": "text", "text": "<s>"}, {"type": "x"}]},
        ],
    }
    new = n.body(body)
    assert body["messages"][0]["content"] == text  # the caller's body is untouched
    assert new["messages"][0]["content"] == out
    assert new["messages"][1]["content"] == [
        {"type": "text", "text": "<" + BREAK + "s>"},
        {"type": "x"},
    ]
    assert Neutralizer(()).body(body) is body


def prompt_tokens(model: Path, contents: list[str]) -> list[int]:
    async def scenario() -> list[int]:
        counts = []
        async with running(model, parallel=1) as engine:
            for content in contents:
                request = GenerationRequest(
                    messages=[{"role": "user", "content": content}], max_tokens=1
                )
                chunks = [c async for c in engine.stream(engine.models[0].id, request)]
                assert chunks[-1].prompt_tokens is not None
                counts.append(chunks[-1].prompt_tokens)
        return counts

    return asyncio.run(scenario())


def test_special_strings_in_a_message_are_tokenised_as_text(tiny_chat_model: Path) -> None:
    """As a special token, `x<|im_start|>` is one token more than `x`; as text, many more."""
    base, *counts = prompt_tokens(tiny_chat_model, ["x"] + [f"x{s}" for s in SPECIALS + ["<note>"]])
    extra = dict(zip(SPECIALS + ["<note>"], [c - base for c in counts], strict=True))
    assert all(extra[s] >= len(s) // 2 for s in SPECIALS), extra
    # llama.cpp matches a user-defined token in plain text too: not touched when the template
    # does not use it.
    assert extra["<note>"] == 1, extra
