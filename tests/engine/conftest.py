from __future__ import annotations

from pathlib import Path

import pytest

from tests.tinymodel import write_tiny_model


@pytest.fixture(scope="session")
def long_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a 32k context: thousands of tokens take seconds to generate, so a
    generation that is not cancelled is easy to tell from one that is."""
    return write_tiny_model(tmp_path_factory.mktemp("models") / "long.gguf", context_length=32768)
