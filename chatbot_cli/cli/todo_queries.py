"""The GraphQL documents `chatbot todo` sends (kept apart from the commands: they are also what
bench figure 7 measures)."""

FIELDS = "id title completed createdAt updatedAt due priority tags project notes uid urgency"

FILTER_VARS = (
    "$completed: Boolean, $search: String, $tag: String, $project: String, "
    "$priority: Priority, $dueBefore: DateTime, $overdue: Boolean, $sort: TodoSort!"
)
FILTER_ARGS = (
    "completed: $completed, search: $search, tag: $tag, project: $project, "
    "priority: $priority, dueBefore: $dueBefore, overdue: $overdue, sort: $sort"
)
Q_PAGE = f"""query ({FILTER_VARS}, $first: Int, $after: String) {{
  todosConnection({FILTER_ARGS}, first: $first, after: $after) {{
    pageInfo {{ hasNextPage endCursor }} nodes {{ {FIELDS} }} }}
}}"""
Q_ONE = f"query ($id: Int!) {{ todo(id: $id) {{ {FIELDS} }} }}"
M_ADD = f"""mutation ($title: String!, $due: DateTime, $priority: Priority, $tags: [String!],
  $project: String, $notes: String) {{
  createTodo(title: $title, due: $due, priority: $priority, tags: $tags, project: $project,
    notes: $notes) {{ {FIELDS} }}
}}"""
M_UPDATE = f"""mutation ($id: Int!, $title: String, $completed: Boolean) {{
  updateTodo(id: $id, title: $title, completed: $completed) {{ {FIELDS} }}
}}"""
M_DELETE = f"mutation ($id: Int!) {{ deleteTodo(id: $id) {{ {FIELDS} }} }}"
M_CLEAR = "mutation { clearCompleted }"
M_UNDO = f"mutation {{ undo {{ action removed restored {{ {FIELDS} }} }} }}"
M_IMPORT = """mutation ($items: [TodoImportInput!]!) {
  importTodos(items: $items) { created skipped }
}"""
