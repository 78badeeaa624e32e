"""The schema, its protective extensions and the FastAPI router mounted at /graphql.

Error contract: every error carries `extensions.code`. Our own errors (bad input, unknown id) pass
through with their message; anything unexpected is masked as "Unexpected error." (code
INTERNAL_SERVER_ERROR) and logged.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import strawberry
from fastapi import Request, WebSocket
from fastapi.responses import JSONResponse
from fastapi.routing import APIWebSocketRoute
from graphql import FieldNode, GraphQLError, IntValueNode, OperationDefinitionNode
from graphql.validation import ValidationContext, ValidationRule
from starlette.responses import Response
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import MaxAliasesLimiter
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.fastapi import GraphQLRouter
from strawberry.http.async_base_view import HTTPException
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.unset import UNSET

from chatbot_cli.errors import AuthenticationFailed, ChatbotError, InvalidRequest, NotFound
from chatbot_cli.graphql.conversations import ConversationMutation, ConversationQuery
from chatbot_cli.graphql.execution import LeafFieldsExecutionContext
from chatbot_cli.graphql.mutations import Mutation
from chatbot_cli.graphql.operations import CountOperations, operation_errors
from chatbot_cli.graphql.queries import DEFAULT_PAGE, LIST_FIELDS, MAX_PAGE, MAX_ROWS, Query
from chatbot_cli.graphql.raw_json import FLAG as RAW_JSON
from chatbot_cli.graphql.raw_json import dumps as dumps_raw

log = logging.getLogger("chatbot.graphql")

MAX_DEPTH = 8
MAX_ALIASES = 20
MAX_TOKENS = 1000
CACHE_SIZE = 256
GRAPHQL_PATH = "/graphql"


_BAD_VARIABLE = re.compile(r"^Variable '\$\w+' (has invalid value|got invalid value|of )")


def error_code(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, InvalidRequest):
        return "BAD_USER_INPUT"
    if isinstance(original, NotFound):
        return "NOT_FOUND"
    if isinstance(original, AuthenticationFailed):
        return "UNAUTHENTICATED"
    if isinstance(original, ChatbotError):
        return (original.code or "INTERNAL_SERVER_ERROR").upper()
    if original is None or isinstance(original, GraphQLError):
        # graphql-core's own errors: syntax, validation, variable coercion.
        if error.message.startswith("Syntax Error"):
            return "GRAPHQL_PARSE_FAILED"
        if original is not None or _BAD_VARIABLE.match(error.message):
            return "BAD_USER_INPUT"  # a variable's value could not be used
        return "GRAPHQL_VALIDATION_FAILED"
    return "INTERNAL_SERVER_ERROR"


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(
        original, (ChatbotError, GraphQLError, RecursionError)
    )


class MaskUnexpected(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=_should_mask)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        return masked


def _with_code(error: GraphQLError) -> GraphQLError:
    if isinstance(error.original_error, RecursionError):
        return GraphQLError(
            "The query is nested too deeply.", extensions={"code": "GRAPHQL_VALIDATION_FAILED"}
        )
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": error_code(error)}
    item = getattr(error.original_error, "item", None)
    if isinstance(item, int):  # which import item was refused
        error.extensions = {**(error.extensions or {}), "item": item}
    return error


class RowBudget(ValidationRule):
    """Refuses a document whose list fields could return more than MAX_ROWS rows in all
    (aliases and fragments included). A field's page is its literal `limit`/`first`, MAX_PAGE when
    a variable gives it (the worst case: validation is cached per document, not per variables),
    DEFAULT_PAGE when absent."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.rows = 0
        self.reported = False

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        self.rows = 0

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        parent = self.context.get_parent_type()
        page_arg = LIST_FIELDS.get(node.name.value)
        if page_arg is None or parent is None or parent.name != "Query":
            return
        rows = DEFAULT_PAGE
        for arg in node.arguments or ():
            if arg.name.value == page_arg:
                value = arg.value
                # Above MAX_PAGE the field refuses its argument itself.
                literal = value.value if isinstance(value, IntValueNode) else None
                rows = MAX_PAGE if literal is None else min(int(literal), MAX_PAGE)
        self.rows += max(rows, 0)
        if self.rows > MAX_ROWS and not self.reported:
            self.reported = True
            self.report_error(
                GraphQLError(
                    f"This request could return more than {MAX_ROWS} todos; ask for fewer "
                    f"(limit/first, at most {MAX_PAGE} a field) and read further pages with "
                    "todosConnection(first:, after:).",
                    node,
                    extensions={"code": "QUERY_TOO_LARGE"},
                )
            )


# The limiter rules are built once: ValidationCache keys on the rule classes, and a fresh class
# per request would make every lookup a miss (bypassing the limiters' __init__: see the guard in
# tests/graphql/test_strawberry_internals.py).
_DEPTH_RULE: type[ValidationRule] = depth_rule(MAX_DEPTH, None)
_ALIAS_RULE: type[ValidationRule] = alias_rule(MAX_ALIASES)


class RowLimit(AddValidationRules):
    def __init__(self) -> None:
        super().__init__([RowBudget])


class DepthLimit(QueryDepthLimiter):
    def __init__(self) -> None:
        AddValidationRules.__init__(self, [_DEPTH_RULE])


class AliasLimit(MaxAliasesLimiter):
    def __init__(self) -> None:
        AddValidationRules.__init__(self, [_ALIAS_RULE])


_validated: OrderedDict[tuple[int, str], list[GraphQLError]] = OrderedDict()


class TextValidationCache(SchemaExtension):
    """Strawberry's ValidationCache keys its LRU on the parsed document, which graphql-core
    hashes by walking the whole tree on every lookup. The query text names the document just as
    well: a schema's rules never change.

    Uses Strawberry internals (`validate_document`, `Schema._schema`, validation skipped once
    `pre_execution_errors` is set): pinned in pyproject.toml, guarded by
    tests/graphql/test_strawberry_internals.py."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        key = (id(ctx.schema), ctx.query or "")
        errors = _validated.get(key)
        if errors is None:
            assert ctx.graphql_document is not None
            errors = validate_document(
                ctx.schema._schema, ctx.graphql_document, ctx.validation_rules
            )
            _validated[key] = errors
            if len(_validated) > CACHE_SIZE:
                _validated.popitem(last=False)
        else:
            _validated.move_to_end(key)
        # A copy: error processing rewrites the list it is given in place.
        ctx.pre_execution_errors = [*errors, *operation_errors(ctx)]
        yield


class TodoSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry calls this on every path (parse, validation, execution) before MaskErrors,
        # with the very list it returns, so codes are set here, in place.
        for error in errors:
            # Bad input and unknown ids are the client's business: log only what gets masked.
            if _should_mask(error):
                log.error(
                    "graphql resolver failed: %s", error.message, exc_info=error.original_error
                )
        errors[:] = [_with_code(e) for e in errors]


class CachedNames(NameConverter):
    """Strawberry converts every argument's name (snake_case to camelCase) again each time a
    resolver with arguments runs: createTodo's six on every create. A name converts the same way
    every time, so each conversion is kept, and each argument's GraphQL name (an argument's
    names never change once the schema is built)."""

    def __init__(self) -> None:
        super().__init__(auto_camel_case=True)
        self._names: dict[str, str] = {}
        self._arguments: dict[StrawberryArgument, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted

    def from_argument(self, argument: StrawberryArgument) -> str:
        # Keyed by the argument object itself (hashed by identity): the schema holds them all.
        name = self._arguments.get(argument)
        if name is None:
            name = self._arguments[argument] = super().from_argument(argument)
        return name


def create_schema() -> strawberry.Schema:
    return TodoSchema(
        config=StrawberryConfig(name_converter=CachedNames()),
        query=merge_types("Query", (Query, ConversationQuery)),
        mutation=merge_types("Mutation", (Mutation, ConversationMutation)),
        execution_context_class=LeafFieldsExecutionContext,
        extensions=[
            MaskUnexpected,
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=CACHE_SIZE),
            DepthLimit,
            AliasLimit,
            RowLimit,
            TextValidationCache,
            CountOperations,
        ],
    )


class TodoGraphQLRouter(GraphQLRouter[Any, Any]):
    """Transport errors (bad JSON, wrong content type, non-object body) become a 4xx with a JSON
    GraphQL error body instead of Strawberry's plain text, and never a 500."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # No subscriptions: drop the WebSocket route, so a handshake is refused (403) instead of
        # reaching the HTTP-only auth dependency.
        self.routes[:] = [r for r in self.routes if not isinstance(r, APIWebSocketRoute)]

    async def run(  # type: ignore[override]
        self,
        request: Request | WebSocket,
        context: Any = UNSET,
        root_value: Any = UNSET,
    ) -> Response | WebSocket:
        if isinstance(context, dict):
            context[RAW_JSON] = True  # `encode_json` writes `RawJSON` values
        try:
            return await super().run(request, context=context, root_value=root_value)
        except HTTPException as exc:
            return JSONResponse(
                {"errors": [{"message": exc.reason, "extensions": {"code": "BAD_REQUEST"}}]},
                status_code=exc.status_code,
            )

    def encode_json(self, data: object) -> str:
        return dumps_raw(data)

    async def parse_http_body(self, request: Any) -> Any:
        try:
            return await super().parse_http_body(request)
        except (HTTPException, json.JSONDecodeError):
            raise
        except RecursionError:
            raise HTTPException(400, "The request body is nested too deeply.") from None
        except (ValueError, TypeError, AttributeError):
            # Undecodable bytes, or JSON that is not an object (a string, a number...).
            raise HTTPException(
                400, "The request body must be a JSON object with a 'query' string."
            ) from None


def create_graphql_router(
    context_getter: Callable[..., Awaitable[dict[str, Any]]],
) -> GraphQLRouter[Any, Any]:
    """`context_getter` is a FastAPI dependency (the server's `deps.graphql_context`) giving the
    resolvers their database and owner; it must be `async def`, or FastAPI runs it in a worker
    thread on every request.

    The router owns its full path (not an include_router prefix): FastAPI keeps an included
    route's own path as its template, and /metrics labels requests by that template."""
    return TodoGraphQLRouter(
        create_schema(),
        path=GRAPHQL_PATH,
        context_getter=context_getter,
        graphql_ide=None,
        subscription_protocols=(),
    )
