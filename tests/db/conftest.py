from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.pg import database_urls


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_urls(request.param, tmp_path)
