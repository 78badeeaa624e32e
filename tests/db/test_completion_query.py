from __future__ import annotations

from chatbot_cli.db import completion_query as q
from chatbot_cli.db import conversation_query
from chatbot_cli.db import conversations as conv
from chatbot_cli.db.session import Database
from tests.db.helpers import run
from tests.db.test_conversations import store, turn


def test_completions_list_metadata_and_delete(db_url: str) -> None:
    async def scenario(db: Database) -> None:
        cid = conv.new_conversation_id()
        made: list[str] = []
        for i in range(4):
            message = [{"role": "user", "content": f"m{i}"}]
            t = turn("o", cid, message, "a", metadata={"n": str(i % 2)})
            made.append(t.id)
            await store(db, t)
        page, more = await q.list_completions(db, "o", limit=3)
        assert [r.id for r in page] == made[:3] and more
        page, more = await q.list_completions(db, "o", limit=3, after=made[2])
        assert [r.id for r in page] == made[3:] and not more
        page, _ = await q.list_completions(db, "o", limit=10, descending=True, metadata={"n": "1"})
        assert [r.id for r in page] == [made[3], made[1]]
        assert await conv.update_metadata(db, "o", made[0], {"k": "v"})
        record = await q.get_completion(db, "o", made[0])
        assert record is not None and record.metadata == {"k": "v"}
        assert record.request["temperature"] == 0.5
        assert await q.get_completion(db, "x", made[0]) is None
        assert await conv.delete_completion(db, "o", made[0])
        assert len(await conversation_query.conversation_messages(db, "o", cid)) == 6

    run(db_url, scenario)
