"""The GraphQL and `chatbot todo` end-to-end suites, run again against a real `chatbot serve` on
PostgreSQL (conftest.py's `live_server`). The tests are imported, not copied, so both backends
always run the same assertions."""

from __future__ import annotations

import pytest

from tests.cli.test_todo import (
    test_errors_and_exit_codes,
    test_every_command_plain_and_json,
)
from tests.graphql.test_e2e import (
    test_200_concurrent_creates,
    test_401_envelope,
    test_hostile_input_never_500_and_writes_nothing,
    test_ownership_matrix_and_revocation,
    test_seed_examples_verbatim,
)
from tests.live import LiveServer

pytestmark = pytest.mark.e2e

__all__ = [
    "test_200_concurrent_creates",
    "test_401_envelope",
    "test_errors_and_exit_codes",
    "test_every_command_plain_and_json",
    "test_hostile_input_never_500_and_writes_nothing",
    "test_ownership_matrix_and_revocation",
    "test_seed_examples_verbatim",
]


def test_rows_land_in_postgresql(live_server: LiveServer, pg_url: str) -> None:
    """The variant above is really PostgreSQL: a todo made over HTTP is a row in that database."""
    from tests.graphql.test_e2e import data
    from tests.scale.pgcluster import run_admin

    made = data(live_server, 'mutation { createTodo(title: "in pg") { id } }')["createTodo"]
    title = run_admin(pg_url, f"SELECT title FROM todos WHERE id = {int(made['id'])}")
    assert title == "in pg"
