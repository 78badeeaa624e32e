"""`chatbot todo done|reopen|undo|rm ID...`: one mutation per id, all or nothing.

Repeated ids count once, and every id is checked to exist before any is changed, so a typo among
good ids changes nothing (exit 5) instead of leaving some changed and some not.
"""

from __future__ import annotations

import sys
from typing import Any

from chatbot_cli.cli.common import fail, handle_errors, make_client, print_json
from chatbot_cli.cli.todo_queries import Q_ONE
from chatbot_cli.cli.todo_view import emit_one


def each(
    ids: list[int], query: str, extra: dict[str, Any], field: str, as_json: bool, verb: str
) -> None:
    """Apply one mutation per id, all or nothing: repeated ids count once, and every id is
    checked to exist before any is changed; if one is missing nothing is changed (exit 5). An
    id that disappears in between (another client) is reported; the others still apply."""
    from chatbot_cli.errors import ChatbotError, GraphQLError

    ids = list(dict.fromkeys(ids))
    done: list[dict[str, Any]] = []
    exit_code = 0
    with handle_errors(), make_client() as client:
        missing = [i for i in ids if not _exists(client, i)]  # one query each, before any change
        if missing:
            listed = ", ".join(str(i) for i in missing)
            fail(f"Todo{'s' if len(missing) > 1 else ''} {listed} not found; nothing changed.", 5)
        for todo_id in ids:
            try:
                todo = client.graphql(query, {"id": todo_id, **extra})[field]
            except GraphQLError as exc:
                sys.stderr.write(f"Error: {' '.join(exc.message.split())}\n")
                exit_code = exc.exit_code
                continue
            except ChatbotError:
                raise
            done.append(todo)
            if not as_json:
                emit_one(todo, False, verb)
    if as_json:
        print_json(done)
    if exit_code:
        raise SystemExit(exit_code)  # typer-free: also run by the fast path (todo_fast.py)


def _exists(client: Any, todo_id: int) -> bool:
    from chatbot_cli.errors import GraphQLError

    try:
        client.graphql(Q_ONE, {"id": todo_id})
    except GraphQLError as exc:
        if exc.exit_code == 5:  # NOT_FOUND
            return False
        raise
    return True
