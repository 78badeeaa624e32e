"""Both descriptions of the database as one set of facts each, so that any difference between
the SQLAlchemy metadata and prisma/schema.prisma (as Prisma's DMMF) shows as a fact on one side.

A fact is one line: "todos.owner: String @db.VarChar(64)", "todos: index ix_todos_owner_id
(owner, id)". Both sides produce the same lines for the same schema; a type, default or
constraint this module does not know yet is reported as a fact of its own ("no Prisma mapping"),
so a new kind of column fails the test until the mapping is written here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.expression import False_, TextClause, True_
from sqlalchemy.types import TypeDecorator, TypeEngine

# SQLAlchemy's ondelete/onupdate words and Prisma's referential actions. Alembic's "no clause"
# is the database's NO ACTION, so schema.prisma must say NoAction rather than rely on Prisma's
# own default.
_ACTIONS = {
    None: "NoAction",
    "NO ACTION": "NoAction",
    "CASCADE": "Cascade",
    "RESTRICT": "Restrict",
    "SET NULL": "SetNull",
    "SET DEFAULT": "SetDefault",
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _literal(value: Any) -> str:
    return json.dumps(value)


def _cols(names: Any) -> str:
    return "(" + ", ".join(names) + ")"


# --- SQLAlchemy ----------------------------------------------------------------------------


def _sa_type(type_: TypeEngine[Any]) -> str:
    """The Prisma scalar type and PostgreSQL native type Alembic creates for this column type."""
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl
    if isinstance(type_, SmallInteger):
        return "Int @db.SmallInt"
    if isinstance(type_, BigInteger):
        return "BigInt"
    if isinstance(type_, Integer):
        return "Int"
    if isinstance(type_, Boolean):
        return "Boolean"
    if isinstance(type_, Text):
        return "String"
    if isinstance(type_, String):
        return f"String @db.VarChar({type_.length})" if type_.length else "String @db.VarChar"
    if isinstance(type_, DateTime):
        return "DateTime @db." + ("Timestamptz(6)" if type_.timezone else "Timestamp(6)")
    if isinstance(type_, Date):
        return "DateTime @db.Date"
    if isinstance(type_, Numeric) and not isinstance(type_, Float):
        return f"Decimal @db.Decimal({type_.precision}, {type_.scale})"
    if isinstance(type_, Float):
        return "Float"
    if isinstance(type_, postgresql.JSONB):
        return "Json"
    if isinstance(type_, JSON):
        return "Json @db.Json"
    if isinstance(type_, LargeBinary):
        return "Bytes"
    return f"no Prisma mapping for {type_!r} (extend tests/prisma/drift.py)"


def _server_default(column: Column[Any]) -> str | None:
    if column.server_default is None:
        return None
    arg = getattr(column.server_default, "arg", None)
    if isinstance(arg, True_ | False_):
        return _literal(isinstance(arg, True_))
    if isinstance(arg, str):
        return _literal(arg)
    if isinstance(arg, TextClause):
        sql = arg.text.strip()
        if re.fullmatch(r"'(?:[^']|'')*'", sql):
            return _literal(sql[1:-1].replace("''", "'"))
        if re.fullmatch(r"-?\d+", sql):
            return _literal(int(sql))
        if sql.lower() in ("true", "false"):
            return _literal(sql.lower() == "true")
    return f"no Prisma mapping for server default {arg!r}"


def _is_utcnow(default: Any) -> bool:
    fn = getattr(default, "arg", None)
    return getattr(fn, "__name__", "") == "utcnow" and "chatbot_cli" in getattr(
        fn, "__module__", ""
    )


def _sa_default(table: Table, column: Column[Any]) -> str | None:
    """The default as Prisma would spell it: a literal, autoincrement(), now(), @updatedAt."""
    pk = list(table.primary_key.columns)
    if (
        pk == [column]
        and isinstance(column.type, Integer)
        and column.autoincrement in (True, "auto")
        and column.server_default is None
    ):
        return "autoincrement()"
    if column.onupdate is not None:
        if _is_utcnow(column.onupdate) and _is_utcnow(column.default):
            return "@updatedAt"
        return f"no Prisma mapping for onupdate {column.onupdate!r}"
    server = _server_default(column)
    default = column.default
    if default is None:
        return server
    if _is_utcnow(default) and server is None:
        return "now()"
    if getattr(default, "is_scalar", False):
        value = _literal(default.arg)  # type: ignore[attr-defined]
        if server is not None and server != value:
            return f"python default {value} differs from server default {server}"
        return value
    return f"no Prisma mapping for default {default!r}"


def _index_line(kind: str, name: Any, names: list[str]) -> str:
    return f"{kind} {name} {_cols(names)}"


def sqlalchemy_facts(metadata: MetaData, skip: frozenset[str] = frozenset()) -> set[str]:
    facts: set[str] = set()
    for table in metadata.sorted_tables:
        if table.name in skip:
            continue
        t = table.name
        facts.add(f"table {t}")
        for column in table.columns:
            c = f"{t}.{column.name}"
            facts.add(f"{c}: field {camel(column.name)}")
            facts.add(f"{c}: {_sa_type(column.type)}")
            facts.add(f"{c}: {'optional' if column.nullable else 'required'}")
            default = _sa_default(table, column)
            if default is not None:
                facts.add(f"{c}: default {default}")
        for constraint in table.constraints:
            names = [col.name for col in constraint.columns]
            if isinstance(constraint, PrimaryKeyConstraint):
                facts.add(f"{t}: " + _index_line("id", constraint.name, names))
            elif isinstance(constraint, UniqueConstraint):
                facts.add(f"{t}: " + _index_line("unique", constraint.name, names))
            elif isinstance(constraint, ForeignKeyConstraint):
                target = constraint.referred_table.name
                refs = [element.column.name for element in constraint.elements]
                facts.add(
                    f"{t}: foreign key {_cols(names)} -> {target}{_cols(refs)}"
                    f" on delete {_ACTIONS.get(constraint.ondelete, constraint.ondelete)}"
                    f" on update {_ACTIONS.get(constraint.onupdate, constraint.onupdate)}"
                )
        for index in table.indexes:
            names = [col.name for col in index.columns]
            kind = "unique" if index.unique else "index"
            facts.add(f"{t}: " + _index_line(kind, index.name, names))
    return facts


# --- Prisma DMMF ---------------------------------------------------------------------------


def _dmmf_type(field: dict[str, Any]) -> str:
    native = field.get("nativeType")
    if not native:
        return str(field["type"])
    name, args = native
    return f"{field['type']} @db.{name}" + (f"({', '.join(args)})" if args else "")


def _dmmf_default(field: dict[str, Any]) -> str | None:
    if field.get("isUpdatedAt"):
        return "@updatedAt" if not field.get("hasDefaultValue") else "@updatedAt with a default"
    if not field.get("hasDefaultValue"):
        return None
    value = field["default"]
    if isinstance(value, dict):
        return f"{value['name']}({', '.join(map(str, value.get('args', [])))})"
    return _literal(value)


def _models(dmmf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {model["name"]: model for model in dmmf["models"]}


def _db_name(thing: dict[str, Any]) -> str:
    return str(thing.get("dbName") or thing["name"])


def _relation_facts(
    t: str, field: dict[str, Any], models: dict[str, dict[str, Any]], columns: dict[str, str]
) -> Iterator[str]:
    if not field.get("relationFromFields"):
        return  # the back-relation side: the foreign key is stated on the other model
    target = models[field["type"]]
    target_columns = {f["name"]: _db_name(f) for f in target["fields"]}
    names = [columns[name] for name in field["relationFromFields"]]
    refs = [target_columns[name] for name in field["relationToFields"]]
    on_delete = field.get("relationOnDelete", "(Prisma's default)")
    on_update = field.get("relationOnUpdate", "(Prisma's default)")
    yield (
        f"{t}: foreign key {_cols(names)} -> {_db_name(target)}{_cols(refs)}"
        f" on delete {on_delete} on update {on_update}"
    )


def prisma_facts(dmmf: dict[str, Any]) -> set[str]:
    facts: set[str] = set()
    models = _models(dmmf)
    columns_of: dict[str, dict[str, str]] = {}
    for model in dmmf["models"]:
        t = _db_name(model)
        facts.add(f"table {t}")
        columns = {f["name"]: _db_name(f) for f in model["fields"] if f["kind"] != "object"}
        columns_of[model["name"]] = columns
        for field in model["fields"]:
            if field["kind"] == "object":
                facts.update(_relation_facts(t, field, models, columns))
                continue
            c = f"{t}.{_db_name(field)}"
            facts.add(f"{c}: field {field['name']}")
            facts.add(f"{c}: {_dmmf_type(field)}" + ("[]" if field.get("isList") else ""))
            facts.add(f"{c}: {'required' if field['isRequired'] else 'optional'}")
            default = _dmmf_default(field)
            if default is not None:
                facts.add(f"{c}: default {default}")
    kinds = {"id": "id", "unique": "unique", "normal": "index"}
    for index in dmmf.get("indexes", []):
        model = models[index["model"]]
        names = [columns_of[model["name"]][f["name"]] for f in index["fields"]]
        kind = kinds.get(index["type"], f"index of type {index['type']}")
        facts.add(f"{_db_name(model)}: " + _index_line(kind, index.get("dbName"), names))
    return facts


def differences(expected: set[str], actual: set[str]) -> list[str]:
    """Readable differences: what SQLAlchemy has that schema.prisma lacks, and the reverse."""
    return [f"only in SQLAlchemy:   {fact}" for fact in sorted(expected - actual)] + [
        f"only in schema.prisma: {fact}" for fact in sorted(actual - expected)
    ]
