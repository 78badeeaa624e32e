"""Full-text search of the owner's stored messages: ranked, with highlighted snippets.

Search ranks on the database's own index and computes snippets only for the page it returns:
SQLite's FTS5 (`MATCH`, bm25 `rank`, `snippet()` on the page's rows), PostgreSQL's stored
tsvector with its GIN index (`websearch_to_tsquery`, `ts_rank`, then `ts_headline` on the page's
rows). The search objects are made by migrations 0005 and 0006, outside the models, so the
statements here are SQL text. The user's words are turned into an FTS5 query here (quoted
phrases, OR, -word, as `websearch_to_tsquery` reads them), so no input is an FTS5 syntax error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import Connection, text

from chatbot_cli.db.conversation_query import ConversationRecord, conversations_by_id
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest

MAX_SEARCH_CHARS = 500
# The highlighted words of a snippet are between these (Markdown bold).
MARK = "**"


@dataclass(frozen=True, slots=True)
class SearchHit:
    message_id: int
    conversation_id: str
    role: str
    created_at: datetime
    snippet: str
    rank: float


def check_search(query: str) -> str:
    query = query.strip()
    if not query:
        raise InvalidRequest("'search' is empty: give some words to look for.", param="search")
    if len(query) > MAX_SEARCH_CHARS or "\x00" in query:
        raise InvalidRequest(
            f"'search' is at most {MAX_SEARCH_CHARS} characters of text.", param="search"
        )
    return query


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")


def fts5_query(query: str) -> str:
    """The user's words as an FTS5 query with websearch_to_tsquery's reading: words must all
    appear, "quoted words" as a phrase, `or` between two terms for either, -word for none."""
    terms: list[tuple[str, str]] = []  # (operator before it, quoted term)
    pending = "AND"
    for match in _TOKEN.finditer(query):
        negate, phrase, bare = match.group(1), match.group(2), match.group(3)
        if bare is not None and bare.lower() == "or" and terms:
            pending = "OR"
            continue
        if bare is not None:
            negate = "-" if bare.startswith("-") else ""
            phrase = bare.lstrip("-")
        words = _WORD.findall(phrase or "")
        if not words:
            continue
        term = '"' + " ".join(words) + '"'
        terms.append(("NOT" if negate and terms else pending, term))
        pending = "AND"
    if not terms:
        return ""
    out = terms[0][1]
    for op, term in terms[1:]:
        out += f" {op} {term}"
    return out


# Ranking is the cost of a search, per matching message: only the owner's newest RANK_WINDOW
# matches are ranked, so a word in every message costs what a rarer one does.
RANK_WINDOW = 1000
# One walk: FTS5 yields its matches in rowid order (newest first here) and computes `rank` only
# for the rows this returns; the row's other columns come along for the page.
_SQLITE_NEWEST = """
SELECT m.id AS id, m.conversation_id AS conversation_id, m.role AS role,
       m.created_at AS created_at, f.rank AS rank
FROM chat_messages_fts f JOIN chat_messages m ON m.id = f.rowid
{join}
WHERE chat_messages_fts MATCH :q AND m.owner = :owner {where}
ORDER BY f.rowid DESC LIMIT :window
"""
_SQLITE_TOP = """
SELECT id, conversation_id, role, created_at, rank FROM ({newest})
ORDER BY rank, id DESC LIMIT :limit OFFSET :offset
"""
# One row per conversation, its best message: with min(), SQLite takes the bare columns from the
# row holding the minimum.
_SQLITE_TOP_GROUPED = """
SELECT id, conversation_id, role, created_at, min(rank) AS rank FROM ({newest})
GROUP BY conversation_id ORDER BY rank, id DESC LIMIT :limit OFFSET :offset
"""
# Snippets for the page's rows only, from the FTS table alone: joining the messages here made
# SQLite rank every match again.
_SQLITE_SNIPPETS = """
SELECT rowid, snippet(chat_messages_fts, 0, :mark, :mark, '…', 16)
FROM chat_messages_fts WHERE chat_messages_fts MATCH :q AND rowid IN ({ids})
"""
# The query is written out where it is used, not taken from a CTE: from a CTE, PostgreSQL plans
# without knowing it and may scan every message instead of reading the GIN index.
# `m.id + 0`: ordered by the key itself, PostgreSQL walks the primary key testing every message
# against the query (slow for a rare word) instead of reading the matches from the GIN index.
_PG_QUERY = "websearch_to_tsquery('english', :q)"
_PG_HITS = """
SELECT m.id, m.conversation_id, ts_rank(m.search, {tsq}) AS rank
FROM (
  SELECT m.id FROM chat_messages m {join}
  WHERE m.owner = :owner AND m.search @@ {tsq} {where}
  ORDER BY m.id + 0 DESC LIMIT :window
) newest JOIN chat_messages m ON m.id = newest.id
"""
_PG_TOP = "SELECT id, rank FROM hits ORDER BY rank DESC, id DESC LIMIT :limit OFFSET :offset"
_PG_TOP_GROUPED = """
SELECT id, rank FROM (
  SELECT DISTINCT ON (conversation_id COLLATE "C") id, rank FROM hits
  ORDER BY conversation_id COLLATE "C", rank DESC, id DESC
) best ORDER BY rank DESC, id DESC LIMIT :limit OFFSET :offset
"""
_PG_PAGE = """
WITH hits AS ({hits}),
top AS ({top})
SELECT m.id, m.conversation_id, m.role, m.created_at, top.rank AS rank,
       ts_headline('english', m.content, {tsq},
                   'StartSel=' || :mark || ', StopSel=' || :mark
                   || ', MaxWords=24, MinWords=8, MaxFragments=2, FragmentDelimiter=" … "')
         AS snippet
FROM top JOIN chat_messages m ON m.id = top.id
ORDER BY top.rank DESC, m.id DESC
"""


def _sqlite_reader(
    params: dict[str, Any], join: str, where: str, per_conversation: bool
) -> Callable[[Connection], Sequence[Any]]:
    match = fts5_query(params["q"])
    params["q"] = match
    shape = _SQLITE_TOP_GROUPED if per_conversation else _SQLITE_TOP
    top = text(shape.format(newest=_SQLITE_NEWEST.format(join=join, where=where)))

    def read(conn: Connection) -> list[_Hit]:
        if not match:
            return []
        ranked = list(conn.execute(top, params))
        if not ranked:
            return []
        ids = ",".join(str(int(r.id)) for r in ranked)
        found = conn.execute(text(_SQLITE_SNIPPETS.format(ids=ids)), {"q": match, "mark": MARK})
        snippets = {int(r[0]): str(r[1]) for r in found}
        return [
            _Hit(r.id, r.conversation_id, r.role, r.created_at, r.rank, snippets[r.id])
            for r in ranked
            if r.id in snippets
        ]

    return read


def _pg_reader(
    params: dict[str, Any], join: str, where: str, per_conversation: bool
) -> Callable[[Connection], Sequence[Any]]:
    statement = text(
        _PG_PAGE.format(
            hits=_PG_HITS.format(join=join, where=where, tsq=_PG_QUERY),
            top=_PG_TOP_GROUPED if per_conversation else _PG_TOP,
            tsq=_PG_QUERY,
        )
    )
    return lambda conn: list(conn.execute(statement, params))


class SearchScope(TypedDict, total=False):
    """What narrows a search besides its words and page size, the same for both searches below:
    how many best hits to skip, the oldest message, the conversation's model."""

    offset: int
    since: datetime | None
    model: str | None


def _searcher(
    is_sqlite: bool,
    owner: str,
    query: str,
    *,
    limit: int,
    per_conversation: bool,
    offset: int = 0,
    since: datetime | None = None,
    model: str | None = None,
) -> Callable[[Connection], list[SearchHit]]:
    """The search as a function of a connection, to run alone or with more reads."""
    params: dict[str, Any] = {
        "q": check_search(query),
        "owner": owner,
        "limit": limit,
        "offset": offset,
        "mark": MARK,
        "window": RANK_WINDOW,
    }
    join, where = "", ""
    if model is not None:
        join = "JOIN conversations c ON c.id = m.conversation_id"
        where += " AND c.model = :model"
        params["model"] = model
    if since is not None:
        where += " AND m.created_at >= :since"
        params["since"] = since if not is_sqlite else since.astimezone(UTC).replace(tzinfo=None)
    make = _sqlite_reader if is_sqlite else _pg_reader
    read = make(params, join, where, per_conversation)

    def hits(conn: Connection) -> list[SearchHit]:
        return [
            SearchHit(
                int(r.id),
                r.conversation_id,
                r.role,
                _aware(r.created_at),
                str(r.snippet),
                float(r.rank),
            )
            for r in read(conn)
        ]

    return hits


async def search_messages(
    db: Database,
    owner: str,
    query: str,
    *,
    limit: int = 20,
    per_conversation: bool = False,
    **scope: Unpack[SearchScope],
) -> list[SearchHit]:
    """The owner's messages matching `query`, best first, with highlighted snippets; with
    `per_conversation`, only each conversation's best message."""
    search = _searcher(
        db.is_sqlite, owner, query, limit=limit, per_conversation=per_conversation, **scope
    )
    return await db.read(search)


async def search_conversations(
    db: Database,
    owner: str,
    query: str,
    *,
    limit: int,
    **scope: Unpack[SearchScope],
) -> list[tuple[ConversationRecord, SearchHit]]:
    """Conversations ranked by their best matching message, with it: one read, one connection
    (a second round trip was a large share of a search on PostgreSQL)."""
    search = _searcher(db.is_sqlite, owner, query, limit=limit, per_conversation=True, **scope)

    def read(conn: Connection) -> list[tuple[ConversationRecord, SearchHit]]:
        hits = search(conn)
        records = conversations_by_id(conn, owner, [h.conversation_id for h in hits])
        return [(records[h.conversation_id], h) for h in hits if h.conversation_id in records]

    return await db.read(read)


@dataclass(frozen=True, slots=True)
class _Hit:
    """A SQLite hit before it becomes a SearchHit: the same fields a PostgreSQL row has."""

    id: int
    conversation_id: str
    role: str
    created_at: Any
    rank: float
    snippet: str


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
