"""What a user types for a todo: natural due dates, Taskwarrior's inline words, and how a due
date is shown back. dateparser is imported only when a date is actually parsed (it is slow to
import, and `todo list` must stay fast)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from chatbot_cli.errors import InvalidRequest

DATE_EXAMPLES = "tomorrow, fri 5pm, in 3 days, next monday, 2026-12-24, 2026-12-24T17:00"
PRIORITY_NAMES = ("none", "low", "medium", "high")
_PRIORITY_SHORT = {"h": "high", "m": "medium", "l": "low", "n": "none", "": "none"}


def local_zone() -> datetime:
    return datetime.now().astimezone()


def parse_due(text: str, now: datetime | None = None) -> datetime:
    """A due date in the user's zone, returned in UTC. A date without a time is the end of that
    day. Not understood: InvalidRequest naming the text, with examples."""
    from dateparser.date import DateDataParser

    now = now or local_zone()
    zone = now.tzinfo
    parser = DateDataParser(
        settings={
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": True,
            "RETURN_TIME_AS_PERIOD": True,
            "RELATIVE_BASE": now.replace(tzinfo=None),
            "TIMEZONE": now.strftime("%z") or "UTC",
        },
        languages=["en"],
    )
    data = parser.get_date_data(text.strip())
    when = data.date_obj
    if when is None or not text.strip():
        raise InvalidRequest(
            f"Could not understand the date {text!r}; try e.g. {DATE_EXAMPLES}.", param="due"
        )
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    if data.period != "time":
        when = datetime.combine(when.date(), time(23, 59, 59), tzinfo=when.tzinfo)
    return when.astimezone(UTC)


def parse_priority(text: str) -> str:
    name = text.strip().lower()
    name = _PRIORITY_SHORT.get(name, name)
    if name not in PRIORITY_NAMES:
        raise InvalidRequest(
            f"Unknown priority {text!r}: use one of {', '.join(PRIORITY_NAMES)} (or H, M, L).",
            param="priority",
        )
    return name


@dataclass
class Words:
    """A title with Taskwarrior's inline words taken out of it."""

    title: str
    tags: list[str] = field(default_factory=list)
    project: str | None = None
    due: str | None = None
    priority: str | None = None


_KEYS = {
    "project": "project",
    "proj": "project",
    "pro": "project",
    "due": "due",
    "priority": "priority",
    "pri": "priority",
}


def split_words(words: list[str]) -> Words:
    """`Call mom +family project:home due:fri pri:H` → title "Call mom" and the fields.
    A word with a space in it (quoted in the shell) is title text unless it is `key:value`."""
    found = Words(title="")
    title: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        if word.startswith("+") and len(word) > 1 and " " not in word:
            found.tags.append(word[1:])
        elif sep and key.lower() in _KEYS and value:
            setattr(found, _KEYS[key.lower()], value)
        else:
            title.append(word)
    found.title = " ".join(title)
    return found


def relative(when: datetime, now: datetime | None = None) -> str:
    """'in 2 days', '3 hours ago', 'today 17:00'..., in the user's zone."""
    now = now or datetime.now(UTC)
    local = when.astimezone()
    delta = when - now
    seconds = delta.total_seconds()
    if abs(seconds) < 60:
        return "now"
    days = (local.date() - now.astimezone().date()).days
    if days == 0:
        return f"today {local:%H:%M}"
    if days == 1:
        return f"tomorrow {local:%H:%M}"
    if days == -1:
        return f"yesterday {local:%H:%M}"
    if 0 < days < 14:
        return f"in {days} days"
    if -14 < days < 0:
        return f"{-days} days ago"
    return f"{local:%Y-%m-%d}"


def due_window(name: str, now: datetime | None = None) -> dict[str, object]:
    """`--due today|week|overdue` as GraphQL filter arguments (no date parsing needed)."""
    now = now or local_zone()
    end_of_day = datetime.combine(now.date(), time.max, tzinfo=now.tzinfo)
    if name == "overdue":
        return {"overdue": True}
    if name == "today":
        return {"dueBefore": end_of_day.astimezone(UTC).isoformat()}
    if name == "week":
        return {"dueBefore": (end_of_day + timedelta(days=7)).astimezone(UTC).isoformat()}
    raise InvalidRequest(f"Unknown --due {name!r}: use today, week or overdue.", param="due")
