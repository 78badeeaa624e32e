"""GraphQL `usage`: what the caller's key spent on chat completions (issue 17). The server's
own key ("default") sees every key, and may name one."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from chatbot_cli.db.models import DEFAULT_OWNER
from chatbot_cli.db.usage import parse_since, usage_report
from chatbot_cli.errors import InvalidRequest
from chatbot_cli.graphql.types import caller

MAX_ROWS = 2000  # as the todo lists' budget (graphql/queries.py)


@strawberry.enum(description="What the sums are grouped by, besides the key.")
class UsageGroup(Enum):
    KEY = "key"
    DAY = "day"
    HOUR = "hour"
    MODEL = "model"


@strawberry.type(description="Requests and tokens of one key (and one day, hour or model).")
class UsageRow:
    key: str
    period: datetime | None = strawberry.field(description="Start of the day or hour (UTC).")
    model: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


async def resolve_usage(
    info: strawberry.Info[Any, Any],
    since: Annotated[
        str, strawberry.argument(description="How far back: 24h, 7d, 2w or an ISO date.")
    ] = "7d",
    group_by: Annotated[UsageGroup, strawberry.argument(description="Grouping.")] = (
        UsageGroup.KEY
    ),
    key: Annotated[
        str | None,
        strawberry.argument(description="Only this key: the server's own key may ask for any."),
    ] = None,
) -> list[UsageRow]:
    database, owner = caller(info)
    if owner != DEFAULT_OWNER:
        if key is not None and key != owner:
            raise InvalidRequest("A key can only see its own usage.", param="key")
        key = owner
    rows = await usage_report(database, owner=key, since=parse_since(since), by=group_by.value)
    if len(rows) > MAX_ROWS:
        raise InvalidRequest(
            f"This report has {len(rows)} rows, more than {MAX_ROWS}: ask for a later `since` "
            "or a coarser `groupBy`.",
            param="since",
        )
    return [
        UsageRow(
            key=r.key,
            period=r.period,
            model=r.model,
            requests=r.requests,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            total_tokens=r.total_tokens,
        )
        for r in rows
    ]
