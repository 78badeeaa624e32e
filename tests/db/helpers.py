from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from chatbot_cli.db.session import Database

T = TypeVar("T")


def run(url: str, fn: Callable[[Database], Awaitable[T]], *, upgrade: bool = True) -> T:
    """Open the database in a fresh event loop, migrate it, run `fn`, close it."""

    async def main() -> T:
        async with Database(url) as database:
            if upgrade:
                await database.upgrade()
            return await fn(database)

    return asyncio.run(main())
