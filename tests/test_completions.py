from __future__ import annotations

from pathlib import Path

import pytest

from scripts.gen_completions import OUT, SHELLS, render


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_completions_are_up_to_date(shell: str) -> None:
    path = Path(OUT) / f"chatbot.{SHELLS[shell]}"
    assert path.read_text() == render(shell), "run: .venv/bin/python scripts/gen_completions.py"


def _complete(words: str, cword: int) -> list[str]:
    import os
    import subprocess
    import sys

    env = {**os.environ, "_CHATBOT_COMPLETE": "complete_bash", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(cword)
    # The installed executable: the completion variable is named after the program.
    chatbot = str(Path(sys.executable).with_name("chatbot"))
    out = subprocess.run([chatbot], env=env, capture_output=True, text=True, timeout=60)
    return out.stdout.split()


def test_the_scripts_complete_the_todo_options() -> None:
    """The scripts ask the app at completion time: new commands and options complete."""
    assert {"show", "reopen", "export", "import"} <= set(_complete("chatbot todo ", 2))
    options = set(_complete("chatbot todo add --", 3))
    assert {"--due", "--priority", "--tag", "--project", "--note"} <= options
    assert {"--clear", "--untag"} <= set(_complete("chatbot todo edit 1 --", 4))
