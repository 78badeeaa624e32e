"""graphql-core's execution with a short way for plain leaf fields.

For every field of every object graphql-core builds a resolve-info object and a response path,
looks the field up, calls Strawberry's attribute resolver through the middleware check, tests the
result for awaitability and completes it through its type: a page of 1,000 todos is tens of
thousands of such calls for what is, field by field, `getattr` then the scalar's output coercion.

`LeafFieldsExecutionContext` does exactly that (`leaf_fields.py`) for a field without argument
or directive whose type is a scalar or enum (or a list of them), when no extension resolves
fields: a Strawberry field without a resolver, `__typename`, or one whose resolver takes only
`self` and is marked `PURE` (no side effects, so calling it again on graphql-core's path is
harmless). It reads the attribute (or calls the resolver) and coerces it with the type's own
`coerce_output_value`, so the value is the one graphql-core would produce; a null is null where
the type allows it. Anything else — a null where the type forbids it, an error, a value that does
not coerce, any other field — takes graphql-core's own path, which also reports the error exactly
as before.

A sub-selection of fields only, none with a directive, is collected once and kept across
requests with its plan (`collect_subfields`): graphql-core collects it again for every request,
though the parser cache hands each request of one query text the same document.

Uses graphql-core's `execute_fields`, `collect_subfields` and `FieldDetails` and Strawberry's
`StrawberryGraphQLCoreExecutionContext`, which are not documented API: pinned in pyproject.toml,
guarded by tests/graphql/test_strawberry_internals.py.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from graphql import FieldNode, GraphQLNonNull, GraphQLObjectType
from graphql.execution.middleware import MiddlewareManager
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from chatbot_cli.graphql.leaf_fields import SLOW, LeafRows, Plan, read, short_row, short_value
from chatbot_cli.graphql.leaf_fields import way as way_of
from chatbot_cli.graphql.raw_json import FLAG as RAW_JSON

# What `way` found, per object type and field name: facts of the schema, so shared by every
# request (weakly: a schema that is dropped takes its entries with it).
_WAYS: WeakKeyDictionary[GraphQLObjectType, dict[str, Any]] = WeakKeyDictionary()
_UNKNOWN = object()


class LeafFieldsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._short = self._uses_short_way(self.middleware_manager)
        context = self.context_value
        # The HTTP router encodes `RawJSON` values (raw_json.py); an in-process caller does not.
        self._raw_json = isinstance(context, dict) and context.get(RAW_JSON) is True
        # Keyed by the grouped field set's id; the set is kept in the value so that the id
        # cannot be reused during this execution (graphql-core memoizes the same way).
        self._plans: dict[int, tuple[Any, Plan]] = {}
        self._item_plans: dict[tuple[int, int], tuple[Any, Plan | None]] = {}

    @staticmethod
    def _uses_short_way(manager: MiddlewareManager | None) -> bool:
        # An extension that resolves fields must see every one of them.
        return not (manager is not None and manager.middlewares)

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Plan:
        ways = _WAYS.get(parent_type)
        if ways is None:
            ways = _WAYS[parent_type] = {}
        plan = Plan()
        for response_name, details in grouped_field_set.items():
            name = details[0].node.name.value
            way = ways.get(name, _UNKNOWN)
            if way is _UNKNOWN:
                way = ways[name] = way_of(parent_type, name)
            if way is not None and all(
                not (d.node.arguments or d.node.directives) and d.defer_usage is None
                for d in details
            ):
                plan.append((response_name, details, *way))  # type: ignore[arg-type]
            else:
                plan.append((response_name, details, None, None, None, False, False))
        plan.whole = all(step[4] is not None for step in plan)
        return plan

    def _plan_of(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Plan:
        key = id(grouped_field_set)
        cached: tuple[Any, Plan | None] | None = self._plans.get(key) or _SHARED_PLANS.get(key)
        if cached is not None and cached[0] is grouped_field_set and cached[1] is not None:
            return cached[1]
        plan = self._plan(parent_type, grouped_field_set)
        if cached is not None and cached[0] is grouped_field_set:
            # A sub-selection collected once (`collect_subfields`): its plan serves every request.
            _SHARED_PLANS[key] = (grouped_field_set, plan)
        else:
            self._plans[key] = (grouped_field_set, plan)
        return plan

    def collect_subfields(self, return_type: GraphQLObjectType, field_details_list: Any) -> Any:
        """graphql-core's collection, kept across requests for a selection that depends on
        nothing but its field node and type (`_static`): the parser cache gives every request
        of one query text the same nodes, so createTodo's `{ id title ... }` is collected once,
        not once a request."""
        if len(field_details_list) == 1:
            details = field_details_list[0]
            node = details.node
            if details.defer_usage is None and details.fragment_variable_values is None:
                key = (return_type, id(node))
                found = _COLLECTED.get(key)
                if found is not None and found[0] is node:
                    if found[1] is not None:
                        return found[1]
                else:
                    collected = None
                    if _static(node):
                        collected = super().collect_subfields(return_type, field_details_list)
                    _share(key, node, collected)
                    if collected is not None:
                        return collected
        return super().collect_subfields(return_type, field_details_list)

    def _item_plan(self, item_type: Any, field_details_list: Any) -> Plan | None:
        """The plan for list items of `item_type` when every selected field takes the short
        way, else None."""
        key = (id(item_type), id(field_details_list))
        cached = self._item_plans.get(key)
        if cached is not None:
            return cached[1]
        plan: Plan | None = None
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if isinstance(object_type, GraphQLObjectType) and object_type.is_type_of is None:
            grouped, defers, _ = self.collect_subfields(object_type, field_details_list)
            if not defers:
                plan = self._plan_of(object_type, grouped)
                if not plan.whole:
                    plan = None
        self._item_plans[key] = (field_details_list, plan)
        return plan

    def complete_iterable_value(
        self,
        item_type: Any,
        field_details_list: Any,
        info: Any,
        path: Any,
        items: Any,
        position_context: Any,
    ) -> Any:
        """A whole list of short-way rows in one loop, without a response path or a completion
        call per item; the first item that needs graphql-core sends the whole list through
        graphql-core's own loop (reading a row has no side effects, so reading it twice is
        safe), which then also gives any error its path. A list that completes its own items
        (`LeafRows`: `todo_rows.TodoRows`) is asked first: for its JSON text on the HTTP path
        (`leaf_json`, raw_json.py), else for its rows."""
        own = isinstance(items, LeafRows)
        if self._short and (own or type(items) is list) and not isinstance(path.key, int):
            plan = self._item_plan(item_type, field_details_list)
            if plan is not None and self.get_stream_usage(field_details_list, path) is None:
                if own:
                    raw = items.leaf_json(plan) if self._raw_json else None
                    if raw is not None:
                        return raw
                    rows = items.leaf_rows(plan)
                    if rows is not None:
                        return rows
                    items = list(items)
                rows = []
                append = rows.append
                for item in items:
                    row = None if item is None else short_row(plan, item)
                    if row is None:
                        break
                    append(row)
                else:
                    return rows
        return super().complete_iterable_value(
            item_type, field_details_list, info, path, items, position_context
        )

    def complete_list_item_value(
        self,
        item: Any,
        complete_results: list[Any],
        item_type: Any,
        field_details_list: Any,
        info: Any,
        item_path: Any,
        position_context: Any,
    ) -> bool:
        if self._short and item is not None:
            plan = self._item_plan(item_type, field_details_list)
            if plan is not None:
                row = short_row(plan, item)
                if row is not None:
                    complete_results.append(row)
                    return False
        return bool(
            super().complete_list_item_value(
                item,
                complete_results,
                item_type,
                field_details_list,
                info,
                item_path,
                position_context,
            )
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        if not self._short:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        slow: dict[str, Any] | None = None
        for response_name, details, attr, call, coerce, many, nullable in self._plan_of(
            parent_type, grouped_field_set
        ):
            if coerce is not None:
                value = short_value(read(source_value, attr, call), coerce, many, nullable)
                if value is not SLOW:
                    results[response_name] = value
                    continue
            # graphql-core's own path, with its errors; the key keeps its place in the order.
            results[response_name] = None
            if slow is None:
                slow = {}
            slow[response_name] = details
        if slow is None:
            return results
        done: Any = super().execute_fields(parent_type, source_value, path, slow, position_context)
        if self.is_awaitable(done):
            return _merge_later(results, slow, done)
        return _merge(results, slow, done)


# Sub-selections collected once: (return type, id of the field node) -> (the node, graphql-core's
# collection, or None when it depends on the request). The node is kept so that its id cannot
# name another node; at most MAX_SHARED entries (the oldest go first).
_COLLECTED: dict[tuple[GraphQLObjectType, int], tuple[FieldNode, Any]] = {}
# The plans of those collections' grouped field sets, by the set's id: (the set, its plan).
_SHARED_PLANS: dict[int, tuple[Any, Plan | None]] = {}
MAX_SHARED = 1024


def _static(node: FieldNode) -> bool:
    """Whether the collection of `node`'s sub-selection is the same on every request: fields
    only, none with a directive (@skip/@include read variables; fragments and @defer take
    graphql-core's path every time)."""
    selection_set = node.selection_set
    return selection_set is not None and all(
        type(selection) is FieldNode and not selection.directives
        for selection in selection_set.selections
    )


def _share(key: tuple[GraphQLObjectType, int], node: FieldNode, collected: Any) -> None:
    if len(_COLLECTED) >= MAX_SHARED:
        _, oldest = _COLLECTED.pop(next(iter(_COLLECTED)))
        if oldest is not None:
            _SHARED_PLANS.pop(id(oldest[0]), None)
    _COLLECTED[key] = (node, collected)
    if collected is not None:
        _SHARED_PLANS[id(collected[0])] = (collected[0], None)


async def _merge_later(results: dict[str, Any], slow: dict[str, Any], done: Any) -> Any:
    return _merge(results, slow, await done)


def _merge(results: dict[str, Any], slow: dict[str, Any], done: dict[str, Any]) -> Any:
    for name in slow:
        if name in done:
            results[name] = done[name]
        else:  # graphql-core leaves out a field it could not look up at all
            del results[name]
    return results
