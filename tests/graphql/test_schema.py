"""The schema's own name converter: Strawberry's conversion, each name converted once."""

from __future__ import annotations

from strawberry.schema.name_converter import NameConverter

from chatbot_cli.graphql.schema import CachedNames, create_schema


def test_cached_names_convert_as_strawberry_does() -> None:
    plain, cached = NameConverter(auto_camel_case=True), CachedNames()
    for name in ("title", "due_before", "created_at", "a_b_c", "_private", "x_"):
        assert cached.apply_naming_config(name) == plain.apply_naming_config(name)
        # The second time from the cache, still the same.
        assert cached.apply_naming_config(name) == plain.apply_naming_config(name)


def test_the_schema_names_arguments_with_it() -> None:
    schema = create_schema()
    assert isinstance(schema.config.name_converter, CachedNames)
    mutation = schema._schema.mutation_type
    assert mutation is not None
    assert "dueBefore" in schema._schema.query_type.fields["todos"].args  # type: ignore[union-attr]
    assert set(mutation.fields["createTodo"].args) == {
        "title",
        "due",
        "priority",
        "tags",
        "project",
        "notes",
    }
