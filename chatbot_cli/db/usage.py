"""What each key spent: hourly rows per key and model (`usage_hours`), added to in batches by
`db/usage_sink.py`, and read back as reports (`chatbot keys usage`, GraphQL `usage`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from chatbot_cli.db.limits import upsert_add
from chatbot_cli.db.models import rate_counters, usage_hours
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest

GROUPS = ("key", "day", "hour", "model")
MODEL_CHARS = 200  # the column's width; a longer id is cut
_SINCE = re.compile(r"^(\d{1,6})([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}

# (owner, model, hour as a Unix time) -> [requests, prompt tokens, completion tokens]
UsageBatch = dict[tuple[str, str, int], list[int]]
# (owner, kind, bucket) -> tokens, for the rate counters of limited keys
TokenBatch = dict[tuple[str, str, int], int]


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """'7d', '24h', '2w', or an ISO date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    text = value.strip()
    match = _SINCE.match(text)
    # OverflowError: a date before year 1 ('999999w', or '0001-01-01T00:00+05:00' in UTC).
    try:
        if match:
            return now - int(match.group(1)) * _UNITS[match.group(2)]
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"since must be like 7d, 24h, 2w or an ISO date, not {text[:40]!r}.", param="since"
        ) from None


def write_batch(conn: Connection, usage: UsageBatch, tokens: TokenBatch) -> None:
    """Add one flush's worth of usage and rate-counter tokens (one transaction)."""
    upsert_add(
        conn,
        usage_hours,
        ["owner", "model", "hour"],
        [
            {
                "owner": owner,
                "model": model,
                "hour": datetime.fromtimestamp(hour, UTC),
                "requests": n[0],
                "prompt_tokens": n[1],
                "completion_tokens": n[2],
            }
            for (owner, model, hour), n in sorted(usage.items())
        ],
    )
    upsert_add(
        conn,
        rate_counters,
        ["owner", "kind", "bucket"],
        [
            {"owner": owner, "kind": kind, "bucket": bucket, "requests": 0, "tokens": n}
            for (owner, kind, bucket), n in sorted(tokens.items())
        ],
    )


@dataclass(frozen=True, slots=True)
class UsageRow:
    key: str
    period: datetime | None
    model: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "period": self.period.isoformat() if self.period else None,
            "model": self.model,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


async def usage_report(
    db: Database, *, owner: str | None, since: datetime, by: str = "key"
) -> list[UsageRow]:
    """Sums since `since` (hour rows that start at or after its hour), for one key or all,
    grouped by key and, with `by`, by day, hour or model."""
    if by not in GROUPS:
        raise InvalidRequest(f"group by one of {', '.join(GROUPS)}, not {by!r}.", param="by")
    u = usage_hours.c
    start = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    sums = (
        func.sum(u.requests).label("requests"),
        func.sum(u.prompt_tokens).label("prompt"),
        func.sum(u.completion_tokens).label("completion"),
    )
    where = [u.hour >= start] + ([u.owner == owner] if owner is not None else [])
    # Days and hours are grouped in Python: the hour is a timestamp on both databases, and the
    # rows of a report are few (24 a day per key and model at most).
    extra = {"key": [], "model": [u.model], "day": [u.hour], "hour": [u.hour]}[by]
    stmt = select(u.owner, *extra, *sums).where(*where).group_by(u.owner, *extra)
    rows = await db.read(lambda conn: conn.execute(stmt).all())
    merged: dict[tuple[str, Any], list[int]] = {}
    for row in rows:
        label: Any = None
        if by == "model":
            label = row.model
        elif by in ("day", "hour"):
            hour = row.hour.astimezone(UTC)
            label = hour.replace(hour=0) if by == "day" else hour
        acc = merged.setdefault((row.owner, label), [0, 0, 0])
        acc[0] += int(row.requests or 0)
        acc[1] += int(row.prompt or 0)
        acc[2] += int(row.completion or 0)
    out = []
    for (key, label), (n, prompt, completion) in sorted(
        merged.items(), key=lambda item: (item[0][0], str(item[0][1]))
    ):
        period = label if by in ("day", "hour") else None
        model = label if by == "model" else None
        out.append(UsageRow(key, period, model, n, prompt, completion))
    return out
