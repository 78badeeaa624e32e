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


def test_cached_names_name_arguments_as_strawberry_does() -> None:
    plain, cached = NameConverter(auto_camel_case=True), CachedNames()
    schema = create_schema()
    mutation = schema.get_type_by_name("Mutation")
    assert mutation is not None
    arguments = [a for f in mutation.fields for a in f.arguments]  # type: ignore[union-attr]
    assert {a.python_name for a in arguments} >= {"title", "due", "tags", "id"}
    for argument in arguments * 2:  # the second time from the cache
        assert cached.from_argument(argument) == plain.from_argument(argument)
    # One entry per argument object, not per name: two `id` arguments are two entries.
    assert len(cached._arguments) == len(arguments)


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
