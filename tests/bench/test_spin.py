"""bench/spin.py: its two sides really run llama.cpp at two different spins.

The figure is only worth its rows if the side meant to load libgomp at its default spin did so:
were both sides at our spin (the engine sets ours whenever the variable is unset), the ratios
would be noise around 1 and read as "the spin does not matter". What tells the spins apart
without timing is sleeping: at our short spin llama.cpp's threads sleep in the kernel between
tokens, at libgomp's long one they keep spinning through the short gap."""

from __future__ import annotations

import asyncio
import os
import statistics
from pathlib import Path

from bench.common import prompt
from bench.llama_defaults import ChildStreams
from bench.spin import _child, loads

TOKENS = 64


def _switches_a_token(side: ChildStreams) -> float:
    side.start()
    try:
        answers = [asyncio.run(side.ask(prompt(1), TOKENS)) for _ in range(4)][1:]
    finally:
        side.close()
    assert all(result.tokens == TOKENS for result, _ in answers), answers
    return statistics.median(switches / TOKENS for _, switches in answers)


def test_our_spin_sleeps_between_tokens_and_the_default_does_not(tiny_model: Path) -> None:
    args = (str(tiny_model), 1, 2)
    ours = _switches_a_token(ChildStreams("ours", _child, *args, True))
    default = _switches_a_token(ChildStreams("default", _child, *args, False))
    # At least one more sleep a token: the OpenMP thread's, waiting for the next token's graph.
    assert ours >= default + 0.5, (ours, default)


def test_the_loads_are_none_one_and_every_cpu() -> None:
    assert loads() == sorted({0, 1, os.cpu_count() or 1})
