"""Todo fields, filters, sort, cursor pages, bounds, undo and import over GraphQL."""

from __future__ import annotations

from chatbot_cli.graphql.queries import DEFAULT_PAGE, MAX_PAGE, MAX_ROWS
from tests.graphql.conftest import GQL

ALL = "id title completed due priority tags project notes uid urgency"
CREATE = f"""mutation ($t: String!, $d: DateTime, $p: Priority, $g: [String!], $j: String,
  $n: String) {{
  createTodo(title: $t, due: $d, priority: $p, tags: $g, project: $j, notes: $n) {{ {ALL} }}
}}"""


def test_create_with_fields_then_clear_them(gql: GQL) -> None:
    made = gql.ok(
        CREATE,
        {"t": "Call mom", "d": "2030-01-02T17:00:00+01:00", "p": "HIGH", "g": ["Family, +home"],
         "j": "home", "n": "*soon*"},
    )["createTodo"]  # fmt: skip
    assert made["due"].startswith("2030-01-02T16:00:00")
    assert (made["priority"], made["tags"], made["project"]) == ("HIGH", ["family", "home"], "home")
    assert made["urgency"] > 6
    cleared = gql.ok(
        "mutation ($id: Int!) { updateTodo(id: $id, due: null, tags: [], project: null, "
        f"priority: NONE) {{ {ALL} }} }}",
        {"id": made["id"]},
    )["updateTodo"]
    assert (cleared["due"], cleared["tags"], cleared["project"], cleared["priority"]) == (
        None,
        [],
        None,
        "NONE",
    )
    assert cleared["notes"] == "*soon*"  # not given: unchanged


def test_filters_and_sort(gql: GQL) -> None:
    a = gql.ok(CREATE, {"t": "a", "g": ["x"], "p": "LOW"})["createTodo"]
    b = gql.ok(CREATE, {"t": "b", "d": "2000-01-01T00:00:00Z", "j": "p"})["createTodo"]
    c = gql.ok(CREATE, {"t": "c", "p": "HIGH"})["createTodo"]

    def ids(args: str) -> list[int]:
        return [t["id"] for t in gql.ok(f"{{ todos({args}) {{ id }} }}")["todos"]]

    assert ids('tag: "X"') == [a["id"]]
    assert ids('project: "p"') == [b["id"]]
    assert ids("priority: HIGH") == [c["id"]]
    assert ids("overdue: true") == [b["id"]]
    assert ids('dueBefore: "2001-01-01T00:00:00Z"') == [b["id"]]
    assert ids("sort: PRIORITY") == [c["id"], a["id"], b["id"]]
    assert ids("sort: DUE") == [b["id"], a["id"], c["id"]]
    assert ids("sort: URGENCY")[0] == b["id"]


def test_cursor_pages(gql: GQL) -> None:
    made = [gql.ok(CREATE, {"t": f"t{i}"})["createTodo"]["id"] for i in range(5)]
    query = """query ($after: String) { todosConnection(first: 2, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } nodes { id } } }"""
    seen: list[int] = []
    after = None
    while True:
        page = gql.ok(query, {"after": after})["todosConnection"]
        assert page["totalCount"] == 5
        seen += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == made[::-1]
    bad = gql.error('{ todosConnection(after: "zzz") { totalCount } }')
    assert bad["extensions"]["code"] == "BAD_USER_INPUT"


def test_pages_are_bounded(gql: GQL) -> None:
    gql.ok(
        "mutation ($items: [TodoImportInput!]!) { importTodos(items: $items) { skipped } }",
        {"items": [{"title": f"t{i}"} for i in range(DEFAULT_PAGE + 5)]},
    )
    # The API document's query still works, and returns the first page.
    assert len(gql.ok("{ todos { id title completed createdAt } }")["todos"]) == DEFAULT_PAGE
    too_big = gql.error(f"{{ todos(limit: {MAX_PAGE + 1}) {{ id }} }}")
    assert too_big["extensions"]["code"] == "BAD_USER_INPUT"
    assert "todosConnection" in too_big["message"]
    fields = " ".join(f"a{i}: todos(limit: {MAX_PAGE}) {{ id }}" for i in range(3))
    refused = gql.error(f"{{ {fields} }}")
    assert refused["extensions"]["code"] == "QUERY_TOO_LARGE"
    # The probe: 20 aliases of the whole list, now 20 default pages at most.
    aliases = " ".join(f"a{i}: todos {{ id }}" for i in range(20))
    assert 20 * DEFAULT_PAGE <= MAX_ROWS
    assert len(gql.ok(f"{{ {aliases} }}")["a19"]) == DEFAULT_PAGE
    aliases = " ".join(f"a{i}: todos(limit: 200) {{ id }}" for i in range(MAX_ROWS // 200 + 1))
    assert gql.error(f"{{ {aliases} }}")["extensions"]["code"] == "QUERY_TOO_LARGE"
    variable = "query ($n: Int) { a: todos(limit: $n) { id } b: todosConnection(first: $n) "
    variable += "{ totalCount } c: todos { id } }"
    assert gql.error(variable, {"n": 1})["extensions"]["code"] == "QUERY_TOO_LARGE"


def test_undo_mutation(gql: GQL) -> None:
    made = gql.ok(CREATE, {"t": "x"})["createTodo"]
    gql.ok(f"mutation {{ deleteTodo(id: {made['id']}) {{ id }} }}")
    undone = gql.ok("mutation { undo { action restored { id title } removed } }")["undo"]
    assert undone == {"action": "rm", "restored": [{"id": made["id"], "title": "x"}], "removed": []}
    assert gql.ok("mutation { undo { action removed } }")["undo"] == {
        "action": "add",
        "removed": [made["id"]],
    }
    assert gql.error("mutation { undo { action } }")["extensions"]["code"] == "NOT_FOUND"


def test_import_refuses_all_on_one_bad_item(gql: GQL) -> None:
    query = (
        "mutation ($items: [TodoImportInput!]!) { importTodos(items: $items) { created skipped } }"
    )
    items = [{"title": "ok", "uid": "1"}, {"title": " ", "uid": "2"}]
    error = gql.error(query, {"items": items})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "item": 1}
    assert gql.ok("{ todos { id } }")["todos"] == []
    first = gql.ok(query, {"items": items[:1]})["importTodos"]
    assert len(first["created"]) == 1 and first["skipped"] == 0
    assert gql.ok(query, {"items": items[:1]})["importTodos"] == {"created": [], "skipped": 1}
