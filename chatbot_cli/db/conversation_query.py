"""Reading conversations and stored completions: pages, one conversation with its messages, and
full-text search of the messages.

Search ranks on the database's own index and computes snippets only for the page it returns:
SQLite's FTS5 (`MATCH`, bm25 `rank`, `snippet()` on the page's rows), PostgreSQL's stored
tsvector with its GIN index (`websearch_to_tsquery`, `ts_rank`, then `ts_headline` on the page's
rows). The search objects are made by migration 0005, outside the models, so the statements here
are SQL text. The user's words are turned into an FTS5 query here (quoted phrases, OR, -word, as
`websearch_to_tsquery` reads them), so no input is an FTS5 syntax error.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, text

from chatbot_cli.db.conversations import previous_context
from chatbot_cli.db.models import chat_completions, chat_messages, conversations
from chatbot_cli.db.session import Database
from chatbot_cli.errors import InvalidRequest, NotFound

MAX_SEARCH_CHARS = 500
# The highlighted words of a snippet are between these (Markdown bold).
MARK = "**"


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    id: str
    name: str | None
    title: str
    model: str
    created_at: datetime
    updated_at: datetime
    prompt_tokens: int
    completion_tokens: int
    messages: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title,
            "model": self.model,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "messages": self.messages,
            "usage": {
                "promptTokens": self.prompt_tokens,
                "completionTokens": self.completion_tokens,
                "totalTokens": self.prompt_tokens + self.completion_tokens,
            },
        }


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    conversation_id: str
    completion_id: str
    role: str
    content: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SearchHit:
    message_id: int
    conversation_id: str
    role: str
    created_at: datetime
    snippet: str
    rank: float


@dataclass(frozen=True, slots=True)
class CompletionRecord:
    id: str
    conversation_id: str
    model: str
    created_at: datetime
    complete: bool
    request: dict[str, Any]
    response: dict[str, Any]
    metadata: dict[str, str]


_CONV_COLUMNS = (
    conversations.c.id,
    conversations.c.name,
    conversations.c.title,
    conversations.c.model,
    conversations.c.created_at,
    conversations.c.updated_at,
    conversations.c.prompt_tokens,
    conversations.c.completion_tokens,
)


def _conversation(row: Any, messages: int = 0) -> ConversationRecord:
    return ConversationRecord(
        row.id,
        row.name,
        row.title,
        row.model,
        row.created_at,
        row.updated_at,
        int(row.prompt_tokens),
        int(row.completion_tokens),
        messages,
    )


def _message_counts(conn: Connection, ids: list[str]) -> dict[str, int]:
    if not ids:
        return {}
    stmt = (
        select(chat_messages.c.conversation_id, func.count())
        .where(chat_messages.c.conversation_id.in_(ids))
        .group_by(chat_messages.c.conversation_id)
    )
    return {row[0]: int(row[1]) for row in conn.execute(stmt)}


# -- conversations ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationPage:
    records: list[ConversationRecord]
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str | None = None) -> list[Any]:
    """A cursor's [kind, two values]; InvalidRequest (param after) for anything else."""
    bad = InvalidRequest(
        "'after' is not a cursor of this list: pass the endCursor of the previous page.",
        param="after",
    )
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(value, list) or len(value) != 3 or kind not in (None, value[0]):
        raise bad
    return value if kind is None else value[1:]


def check_search(query: str) -> str:
    query = query.strip()
    if not query:
        raise InvalidRequest("'search' is empty: give some words to look for.", param="search")
    if len(query) > MAX_SEARCH_CHARS or "\x00" in query:
        raise InvalidRequest(
            f"'search' is at most {MAX_SEARCH_CHARS} characters of text.", param="search"
        )
    return query


async def list_conversations(
    db: Database,
    owner: str,
    *,
    first: int,
    after: str | None = None,
    since: datetime | None = None,
    model: str | None = None,
) -> ConversationPage:
    """The owner's conversations, most recently used first, a page after the cursor."""
    stmt = select(*_CONV_COLUMNS).where(conversations.c.owner == owner)
    if since is not None:
        stmt = stmt.where(conversations.c.updated_at >= since)
    if model is not None:
        stmt = stmt.where(conversations.c.model == model)
    if after:
        when, last_id = decode_cursor(after, "c")
        try:
            moment = datetime.fromisoformat(str(when)).astimezone(UTC)
        except ValueError:
            raise InvalidRequest("'after' is not a cursor of this list.", param="after") from None
        stmt = stmt.where(
            or_(
                conversations.c.updated_at < moment,
                and_(conversations.c.updated_at == moment, conversations.c.id < str(last_id)),
            )
        )
    stmt = stmt.order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
    stmt = stmt.limit(first + 1)

    def read(conn: Connection) -> tuple[list[Any], dict[str, int]]:
        rows = list(conn.execute(stmt).all())
        return rows, _message_counts(conn, [r.id for r in rows[:first]])

    rows, counts = await db.read(read)
    records = [_conversation(r, counts.get(r.id, 0)) for r in rows[:first]]
    end = records[-1] if records else None
    cursor = encode_cursor(["c", end.updated_at.isoformat(), end.id]) if end else None
    return ConversationPage(records, len(rows) > first, cursor)


async def get_conversation(
    db: Database, owner: str, conversation_id: str | None = None, *, name: str | None = None
) -> ConversationRecord | None:
    """By id, or by session name; None when the owner has none such (ids leak nothing)."""
    stmt = select(*_CONV_COLUMNS).where(conversations.c.owner == owner)
    if conversation_id is not None:
        stmt = stmt.where(conversations.c.id == conversation_id)
    elif name is not None:
        stmt = stmt.where(conversations.c.name == name.strip())
    else:
        return None

    def read(conn: Connection) -> ConversationRecord | None:
        row = conn.execute(stmt).first()
        if row is None:
            return None
        return _conversation(row, _message_counts(conn, [row.id]).get(row.id, 0))

    return await db.read(read)


async def latest_conversation(db: Database, owner: str) -> ConversationRecord | None:
    page = await list_conversations(db, owner, first=1)
    return page.records[0] if page.records else None


async def conversation_messages(
    db: Database, owner: str, conversation_id: str
) -> list[MessageRecord]:
    stmt = (
        select(
            chat_messages.c.id,
            chat_messages.c.conversation_id,
            chat_messages.c.completion_id,
            chat_messages.c.role,
            chat_messages.c.content,
            chat_messages.c.created_at,
        )
        .where(chat_messages.c.conversation_id == conversation_id, chat_messages.c.owner == owner)
        .order_by(chat_messages.c.id)
    )
    rows = await db.read(lambda conn: list(conn.execute(stmt).all()))
    return [MessageRecord(*row) for row in rows]


async def conversation_context(
    db: Database, owner: str, conversation_id: str
) -> list[dict[str, str]]:
    """What the next turn sends first: the last turn's input messages and its answer."""

    def read(conn: Connection) -> list[dict[str, str]]:
        found = conn.execute(
            select(conversations.c.id).where(
                conversations.c.id == conversation_id, conversations.c.owner == owner
            )
        ).first()
        return previous_context(conn, conversation_id) if found else []

    return await db.read(read)


# -- search ------------------------------------------------------------------------------------

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
# matches are ranked, so a word in every message costs what a rarer one does. This finds the
# oldest of them (FTS5 walks its matches in rowid order, newest first here).
RANK_WINDOW = 1000
_SQLITE_CUTOFF = """
SELECT m.id FROM chat_messages_fts f JOIN chat_messages m ON m.id = f.rowid
{join}
WHERE chat_messages_fts MATCH :q AND m.owner = :owner {where}
ORDER BY f.rowid DESC LIMIT 1 OFFSET :window
"""
_SQLITE_TOP = """
SELECT m.id, f.rank FROM chat_messages_fts f JOIN chat_messages m ON m.id = f.rowid
{join}
WHERE chat_messages_fts MATCH :q AND m.owner = :owner {where}
ORDER BY f.rank, m.id DESC LIMIT :limit OFFSET :offset
"""
# One row per conversation, its best message: with min(), SQLite takes the bare column (m.id)
# from the row holding the minimum.
_SQLITE_TOP_GROUPED = """
SELECT m.id, min(f.rank) AS best FROM chat_messages_fts f JOIN chat_messages m ON m.id = f.rowid
{join}
WHERE chat_messages_fts MATCH :q AND m.owner = :owner {where}
GROUP BY m.conversation_id ORDER BY best, m.id DESC LIMIT :limit OFFSET :offset
"""
# Snippets for the page's rows only, from the FTS table alone: joining the messages here made
# SQLite rank every match again.
_SQLITE_SNIPPETS = """
SELECT rowid, snippet(chat_messages_fts, 0, :mark, :mark, '…', 16)
FROM chat_messages_fts WHERE chat_messages_fts MATCH :q AND rowid IN ({ids})
"""
_SQLITE_ROWS = """
SELECT id, conversation_id, role, created_at FROM chat_messages WHERE id IN ({ids})
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


def _searcher(
    is_sqlite: bool,
    owner: str,
    query: str,
    *,
    limit: int,
    offset: int,
    since: datetime | None,
    model: str | None,
    per_conversation: bool,
) -> Callable[[Connection], list[SearchHit]]:
    """The search as a function of a connection, to run alone or with more reads."""
    query = check_search(query)
    params: dict[str, Any] = {
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
    if is_sqlite:
        match = fts5_query(query)
        params["q"] = match
        cutoff_sql = text(_SQLITE_CUTOFF.format(join=join, where=where))
        shape = _SQLITE_TOP_GROUPED if per_conversation else _SQLITE_TOP

        def read(conn: Connection) -> list[Any]:
            if not match:
                return []
            cutoff = conn.execute(cutoff_sql, params).scalar()
            bounded = where if cutoff is None else f"{where} AND f.rowid > {int(cutoff)}"
            top = text(shape.format(join=join, where=bounded))
            ranked = [(int(r[0]), float(r[1])) for r in conn.execute(top, params)]
            if not ids_of(ranked):
                return []
            ids = ",".join(map(str, ids_of(ranked)))
            found = conn.execute(text(_SQLITE_SNIPPETS.format(ids=ids)), {"q": match, "mark": MARK})
            snippets = {int(r[0]): str(r[1]) for r in found}
            rows = {r.id: r for r in conn.execute(text(_SQLITE_ROWS.format(ids=ids)))}
            return [
                _Hit(
                    i, rows[i].conversation_id, rows[i].role, rows[i].created_at, rank, snippets[i]
                )
                for i, rank in ranked
                if i in rows and i in snippets
            ]

    else:
        params["q"] = query
        statement = text(
            _PG_PAGE.format(
                hits=_PG_HITS.format(join=join, where=where, tsq=_PG_QUERY),
                top=_PG_TOP_GROUPED if per_conversation else _PG_TOP,
                tsq=_PG_QUERY,
            )
        )

        def read(conn: Connection) -> list[Any]:
            return list(conn.execute(statement, params))

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
    offset: int = 0,
    since: datetime | None = None,
    model: str | None = None,
    per_conversation: bool = False,
) -> list[SearchHit]:
    """The owner's messages matching `query`, best first, with highlighted snippets; with
    `per_conversation`, only each conversation's best message."""
    search = _searcher(
        db.is_sqlite,
        owner,
        query,
        limit=limit,
        offset=offset,
        since=since,
        model=model,
        per_conversation=per_conversation,
    )
    return await db.read(search)


async def search_conversations(
    db: Database,
    owner: str,
    query: str,
    *,
    limit: int,
    offset: int = 0,
    since: datetime | None = None,
    model: str | None = None,
) -> list[tuple[ConversationRecord, SearchHit]]:
    """Conversations ranked by their best matching message, with it: one read, one connection
    (a second round trip was a large share of a search on PostgreSQL)."""
    search = _searcher(
        db.is_sqlite,
        owner,
        query,
        limit=limit,
        offset=offset,
        since=since,
        model=model,
        per_conversation=True,
    )

    def read(conn: Connection) -> list[tuple[ConversationRecord, SearchHit]]:
        hits = search(conn)
        records = _conversations_by_id(conn, owner, [h.conversation_id for h in hits])
        return [(records[h.conversation_id], h) for h in hits if h.conversation_id in records]

    return await db.read(read)


@dataclass(frozen=True, slots=True)
class _Hit:
    id: int
    conversation_id: str
    role: str
    created_at: Any
    rank: float
    snippet: str


def ids_of(ranked: list[tuple[int, float]]) -> list[int]:
    return [i for i, _ in ranked]


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _conversations_by_id(
    conn: Connection, owner: str, ids: list[str]
) -> dict[str, ConversationRecord]:
    if not ids:
        return {}
    stmt = select(*_CONV_COLUMNS).where(conversations.c.owner == owner, conversations.c.id.in_(ids))
    rows = list(conn.execute(stmt).all())
    counts = _message_counts(conn, [r.id for r in rows])
    return {r.id: _conversation(r, counts.get(r.id, 0)) for r in rows}


# -- stored completions (OpenAI) ------------------------------------------------------------


def _completion(row: Any) -> CompletionRecord:
    return CompletionRecord(
        row.id,
        row.conversation_id,
        row.model,
        row.created_at,
        bool(row.complete),
        json.loads(row.request),
        json.loads(row.response),
        json.loads(row.metadata_json),
    )


_COMPLETION_COLUMNS = (
    chat_completions.c.id,
    chat_completions.c.conversation_id,
    chat_completions.c.model,
    chat_completions.c.created_at,
    chat_completions.c.complete,
    chat_completions.c.request,
    chat_completions.c.response,
    chat_completions.c.metadata_json,
)


async def get_completion(db: Database, owner: str, completion_id: str) -> CompletionRecord | None:
    stmt = select(*_COMPLETION_COLUMNS).where(
        chat_completions.c.id == completion_id, chat_completions.c.owner == owner
    )
    row = await db.read(lambda conn: conn.execute(stmt).first())
    return _completion(row) if row is not None else None


async def list_completions(
    db: Database,
    owner: str,
    *,
    limit: int,
    after: str | None = None,
    descending: bool = False,
    model: str | None = None,
    metadata: dict[str, str] | None = None,
) -> tuple[list[CompletionRecord], bool]:
    """A page of the owner's stored completions in creation order, after the completion `after`
    (OpenAI's cursor is the last id of the previous page), and whether more follow."""
    c = chat_completions.c
    stmt = select(*_COMPLETION_COLUMNS).where(c.owner == owner)
    if model is not None:
        stmt = stmt.where(c.model == model)
    order = (c.created_at.desc(), c.id.desc()) if descending else (c.created_at, c.id)
    stmt = stmt.order_by(*order)

    def read(conn: Connection) -> tuple[list[CompletionRecord], bool]:
        nonlocal stmt
        if after is not None:
            anchor = conn.execute(
                select(c.created_at, c.id).where(c.id == after, c.owner == owner)
            ).first()
            if anchor is None:
                raise NotFound(
                    f"'after' names no stored completion of yours: {after}.", param="after"
                )
            when, last = anchor
            if descending:
                later = or_(c.created_at < when, and_(c.created_at == when, c.id < last))
            else:
                later = or_(c.created_at > when, and_(c.created_at == when, c.id > last))
            stmt = stmt.where(later)
        found: list[CompletionRecord] = []
        # Metadata is JSON text, so its filter is applied here, reading on until the page fills.
        for row in conn.execute(stmt.execution_options(yield_per=200)):
            record = _completion(row)
            if metadata and any(record.metadata.get(k) != v for k, v in metadata.items()):
                continue
            found.append(record)
            if len(found) > limit:
                break
        return found[:limit], len(found) > limit

    return await db.read(read)
