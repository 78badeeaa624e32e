"""prisma/schema.prisma against the SQLAlchemy models at the Alembic head, read with Prisma's own
schema parser: any difference in tables, fields, types, nullability, defaults, keys, unique
constraints, indexes or foreign keys fails (drift.py turns both into comparable facts)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from chatbot_cli.db.models import SEARCH_OBJECTS, Base
from tests.prisma.drift import differences, prisma_facts, sqlalchemy_facts
from tests.prisma.nodeenv import SCHEMA, SQLITE_SED, NodePackages

# A cold cache installs the Node packages (minutes) inside the first test's set-up.
pytestmark = pytest.mark.timeout(1500)


@pytest.fixture(scope="module")
def dmmf(node_packages: NodePackages) -> dict[str, Any]:
    return node_packages.dmmf(SCHEMA)


def test_schema_prisma_matches_the_models(dmmf: dict[str, Any]) -> None:
    diff = differences(sqlalchemy_facts(Base.metadata), prisma_facts(dmmf))
    assert diff == [], "prisma/schema.prisma has drifted from the models:\n" + "\n".join(diff)


def test_models_are_every_table_at_the_alembic_head(tmp_path: Path) -> None:
    """The models are what Alembic's head creates (tests/db/test_migrations.py compares columns
    too); here: no table at the head is missing from the models, so none from schema.prisma."""
    from sqlalchemy import create_engine, inspect

    from tests.db.helpers import run

    url = f"sqlite:///{tmp_path / 'head.db'}"
    run(url, lambda db: db.ping())
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    # The FTS5 table and its shadow tables are SQLite's search index, not tables of the data.
    left_out = {"alembic_version", "sqlite_sequence", *SEARCH_OBJECTS}
    assert tables - left_out == set(Base.metadata.tables)


def test_foreign_key_names() -> None:
    """The DMMF leaves out a relation's constraint name (`map:`), so it is read from the text."""
    in_models = sorted(
        str(fk.name)
        for table in Base.metadata.tables.values()
        for fk in table.foreign_key_constraints
    )
    in_schema = sorted(re.findall(r'@relation\([^)]*map: "([^"]*)"', SCHEMA.read_text()))
    assert in_models == in_schema


def test_partial_index_predicates() -> None:
    """The DMMF leaves out an index's `where:` too: each partial index's predicate is read from
    the text of the index with that name."""
    in_models = sorted(
        (str(index.name), str(index.dialect_options["postgresql"]["where"]))
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options["postgresql"].get("where") is not None
    )
    pattern = r'map: "([^"]*)", where: raw\("([^"]*)"\)'
    assert in_models == sorted(re.findall(pattern, SCHEMA.read_text()))


def test_header_names_the_alembic_head() -> None:
    from chatbot_cli.db.session import HEAD_REVISION

    header = re.search(r"^// Alembic head: (\S+)$", SCHEMA.read_text(), re.MULTILINE)
    assert header is not None and header.group(1) == HEAD_REVISION


@pytest.mark.parametrize(
    "change",
    [
        "nullable",
        "type",
        "default",
        "updated_at",
        "index",
        "unique",
        "field name",
        "extra model",
    ],
)
def test_the_comparison_sees_each_kind_of_change(dmmf: dict[str, Any], change: str) -> None:
    """The drift test can fail: each kind of edit to the parsed schema is reported."""
    edited = copy.deepcopy(dmmf)
    todo = next(m for m in edited["models"] if m["dbName"] == "todos")
    field = {f["name"]: f for f in todo["fields"]}
    if change == "nullable":
        field["title"]["isRequired"] = False
    elif change == "type":
        field["owner"]["nativeType"] = ["VarChar", ["100"]]
    elif change == "default":
        field["completed"]["default"] = True
    elif change == "updated_at":
        field["updatedAt"].update(isUpdatedAt=False, hasDefaultValue=True)
        field["updatedAt"]["default"] = {"name": "now", "args": []}
    elif change == "index":
        edited["indexes"] = [i for i in edited["indexes"] if i["type"] != "normal"]
    elif change == "unique":
        unique = next(i for i in edited["indexes"] if i["type"] == "unique")
        unique["type"] = "normal"
    elif change == "field name":
        field["createdAt"]["name"] = "created_at"
        field["createdAt"].pop("dbName")
    elif change == "extra model":
        edited["models"].append({**copy.deepcopy(todo), "name": "Other", "dbName": "others"})
    assert differences(sqlalchemy_facts(Base.metadata), prisma_facts(edited)) != []


def test_sqlite_copy_differs_only_in_native_types_and_key_names(
    node_packages: NodePackages, dmmf: dict[str, Any], tmp_path: Path
) -> None:
    """The copy SQLite users make (prisma/README.md) keeps every model, field and default."""
    import subprocess

    readme = (SCHEMA.parent / "README.md").read_text()
    assert SQLITE_SED in re.sub(r" \\\n\s*", " ", readme)
    copied = tmp_path / "schema.prisma"
    with SCHEMA.open() as src, copied.open("w") as dst:
        subprocess.run(["sh", "-c", SQLITE_SED], stdin=src, stdout=dst, check=True)
    sqlite = node_packages.dmmf(copied)

    def portable(facts: set[str]) -> set[str]:
        facts = {re.sub(r" @db\.\S+", "", fact) for fact in facts}
        return {re.sub(r": id \S+ \(", ": id (", fact) for fact in facts}

    assert portable(prisma_facts(sqlite)) == portable(prisma_facts(dmmf))


def test_timestamps_fit_a_javascript_date() -> None:
    """A Prisma Client reads DateTime as a JavaScript Date (milliseconds): timestamps written
    here must not carry more, or the two sides would read different values."""
    from chatbot_cli.db.models import utcnow

    assert all(utcnow().microsecond % 1000 == 0 for _ in range(1000))
