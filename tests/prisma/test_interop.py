"""chatbot and a TypeScript program using the Prisma Client generated from prisma/schema.prisma,
on one database (PostgreSQL and SQLite): each reads the other's rows exactly, owner and
timestamps included.

The program runs in a time zone far from UTC, so a timestamp read as local time would show.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.graphql.test_e2e import data, keys_cli
from tests.live import LiveServer
from tests.prisma.nodeenv import NodePackages

# A cold cache installs the Node packages (minutes) inside the first test's set-up.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

FAR_ZONE = "Pacific/Chatham"  # UTC+12:45 / +13:45


@pytest.fixture(params=["postgresql", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(kind, chatbot's URL, the Prisma program's DATABASE_URL) for a fresh database."""
    kind = request.param
    if kind == "sqlite":
        path = tmp_path / "chatbot.db"
        yield kind, f"sqlite:///{path}", f"file:{path}"
        return
    from tests.db.pg import database_urls

    for url in database_urls("postgresql", tmp_path):
        yield kind, url, url


def chatbot(server: LiveServer, key: str, *args: str) -> Any:
    """`chatbot todo ... --json` as a user runs it: a subprocess talking to the server."""
    env = {**server.env, "CHATBOT_API_KEY": key}
    result = subprocess.run(
        [sys.executable, "-m", "chatbot_cli", "todo", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return json.loads(result.stdout)


def at(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, value
    return parsed


def by_id(todos: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Todos by id: the order of a list is chatbot's choice, not what this test is about."""
    return {int(t["id"]): t for t in todos}


def same(python_side: dict[str, Any], prisma_side: dict[str, Any]) -> None:
    """One todo as chatbot shows it and as the Prisma Client read it: equal to the instant."""
    assert python_side["id"] == prisma_side["id"]
    assert python_side["title"] == prisma_side["title"]
    assert python_side["completed"] == prisma_side["completed"]
    for name in ("createdAt", "updatedAt"):
        assert at(python_side[name]) == at(prisma_side[name]), name


def test_both_sides_read_each_others_rows(
    database: tuple[str, str, str],
    start_server: Callable[..., LiveServer],
    node_packages: NodePackages,
    prisma_projects: dict[str, Path],
) -> None:
    kind, url, prisma_url = database
    server = start_server(extra_env={"CHATBOT_DATABASE_URL": url})
    alice = keys_cli(server, "create", "alice")
    project = prisma_projects[kind]

    def prisma(*steps: list[Any]) -> list[Any]:
        env = {"DATABASE_URL": prisma_url, "TZ": FAR_ZONE}
        return node_packages.tsx(project, json.dumps(steps), env=env)  # type: ignore[return-value]

    offset = node_packages.run(
        "-e", "console.log(new Date().getTimezoneOffset())", cwd=project, env={"TZ": FAR_ZONE}
    )
    assert int(offset.stdout) <= -12 * 60  # the zone really is in force for the program

    before = datetime.now(UTC) - timedelta(seconds=5)
    mine = chatbot(server, alice, "add", "from the CLI")

    # The program reads the CLI's row, then makes one of its own for alice.
    read, made, others = prisma(
        ["list", "alice"], ["add", "alice", "from Prisma"], ["list", "default"]
    )
    assert [t["title"] for t in read] == ["from the CLI"] and read[0]["owner"] == "alice"
    same(mine, read[0])
    assert made["owner"] == "alice" and others == []
    assert before <= at(made["createdAt"]) == at(made["updatedAt"]) <= datetime.now(UTC)

    # chatbot shows the program's todo to its owner only, via the CLI and GraphQL alike.
    listed = by_id(chatbot(server, alice, "list"))
    assert sorted(t["title"] for t in listed.values()) == ["from Prisma", "from the CLI"]
    same(listed[made["id"]], made)
    same(listed[mine["id"]], mine)
    fields = "id title completed createdAt updatedAt"
    graphql = by_id(data(server, f"{{ todos {{ {fields} }} }}", key=alice)["todos"])
    assert graphql == {i: {k: t[k] for k in fields.split()} for i, t in listed.items()}
    assert data(server, "{ todos { id } }")["todos"] == []  # the default key's owner has none

    # Updates cross over too: each side marks the other's todo done and sees the other's change.
    chatbot(server, alice, "done", str(made["id"]))
    done, wrong_owner, after = prisma(
        ["done", "alice", mine["id"]], ["done", "bob", made["id"]], ["list", "alice"]
    )
    assert (done, wrong_owner) == ({"count": 1}, {"count": 0})
    assert [t["completed"] for t in after] == [True, True]
    final = by_id(chatbot(server, alice, "list"))
    for row in after:
        same(final[row["id"]], row)
    # Prisma's @updatedAt moved the CLI todo's updatedAt; chatbot moved the Prisma todo's.
    theirs = by_id(after)[mine["id"]]
    assert at(theirs["updatedAt"]) > at(theirs["createdAt"]) == at(mine["createdAt"])
    assert at(final[made["id"]]["updatedAt"]) > at(made["updatedAt"])
