"""Which operation of a document runs, and counting what ran.

`operation_errors` applies the spec's GetOperation, which Strawberry does not (its
`operation_name` falls back to the first operation's name, so a request could run a mutation it
never chose). `CountOperations` counts each operation by type and outcome into the app's metrics;
the schema knows nothing of the server, so it finds the counter on the request's app state (set
by server/metrics.install_metrics) and counts nothing when there is none (tests, scripts)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext


def _ambiguous(ctx: ExecutionContext) -> int:
    """How many operations the document offers when none was named and it holds several; else 0."""
    # Private: the public `operation_name` cannot tell "not sent" from "sent the first name".
    if ctx._provided_operation_name is not None or ctx.graphql_document is None:
        return 0
    count = sum(isinstance(d, OperationDefinitionNode) for d in ctx.graphql_document.definitions)
    return count if count > 1 else 0


def operation_errors(ctx: ExecutionContext) -> list[GraphQLError]:
    """With no operationName a document must hold exactly one operation (GraphQL spec)."""
    count = _ambiguous(ctx)
    if not count:
        return []
    message = f"The document has {count} operations: send operationName to choose the one to run."
    return [GraphQLError(message, extensions={"code": "OPERATION_RESOLUTION_FAILURE"})]


class CountOperations(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        raised = True
        try:
            yield
            raised = False
        finally:
            # A document that does not parse reaches here as an exception thrown into the hook;
            # Strawberry turns it into an error response afterwards.
            _count(self.execution_context, raised)


def _count(ctx: ExecutionContext, raised: bool) -> None:
    context: Any = ctx.context
    request = context.get("request") if isinstance(context, dict) else None
    request = request or getattr(context, "request", None)
    metrics = getattr(getattr(getattr(request, "app", None), "state", None), "metrics", None)
    if metrics is None:
        return
    # "unknown": the document did not parse, or no single operation in it could be chosen.
    operation = "unknown"
    if ctx.graphql_document is not None and not _ambiguous(ctx):
        with contextlib.suppress(RuntimeError):  # an operationName the document lacks
            operation = ctx.operation_type.value
    result = ctx.result
    errors = raised or ctx.pre_execution_errors or (result is not None and result.errors)
    metrics.graphql_operation(operation, "error" if errors else "ok")
