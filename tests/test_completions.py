from __future__ import annotations

from pathlib import Path

import pytest

from scripts.gen_completions import OUT, SHELLS, render


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_completions_are_up_to_date(shell: str) -> None:
    path = Path(OUT) / f"chatbot.{SHELLS[shell]}"
    assert path.read_text() == render(shell), "run: .venv/bin/python scripts/gen_completions.py"
