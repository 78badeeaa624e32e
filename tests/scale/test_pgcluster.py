"""The PostgreSQL variant is skipped only off CI: with CI=true a missing server fails loudly."""

from __future__ import annotations

import pytest

from tests.db import pg
from tests.scale.pgcluster import fresh_database


def test_missing_postgresql_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg, "_PG", False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL server"):
        next(fresh_database())
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run"):
        next(fresh_database())


def test_pool_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from chatbot_cli.config import load_settings

    for name, value in (("DB_POOL_SIZE", "0"), ("DB_POOL_TIMEOUT", "-1"), ("DB_MAX_OVERFLOW", "x")):
        monkeypatch.setenv(f"CHATBOT_{name}", value)
        with pytest.raises(ValidationError):
            load_settings()
        monkeypatch.delenv(f"CHATBOT_{name}")
