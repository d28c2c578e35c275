"""Run one synchronous unit of work in one transaction, on either database.

The ledger's writes are plain SQLAlchemy Core against a ``Connection``. On PostgreSQL they run
through the async engine (asyncpg) with ``run_sync``. On SQLite they run on a synchronous
pysqlite engine in one dedicated thread: aiosqlite hands every cursor call to its own thread
and back (four hops per statement, about 3 ms for a ledger batch against 0.7 ms in one
thread), and SQLite admits one writer at a time anyway, so one writer thread per process
loses nothing and keeps the process's writers from queueing on the file lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine

from db.session import sqlite_pragmas

T = TypeVar("T")

# A writer that waits on another process's lock gives up well within an activity attempt
# (10 s), so the attempt fails with "database is locked" and is retried, instead of timing out.
WRITER_BUSY_TIMEOUT_S = 5.0


class Transactions(Protocol):
    async def run(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)`` inside a transaction: committed if it returns, rolled back if it raises."""
        ...

    async def close(self) -> None: ...


class AsyncDriverTransactions:
    """The unit of work on the async engine's own connection (greenlet-adapted, one await per call)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def run(self, work: Callable[[Connection], T]) -> T:
        async with self._engine.begin() as connection:
            return await connection.run_sync(work)

    async def close(self) -> None:
        """The async engine belongs to the caller, who disposes of it."""


class SqliteThreadTransactions:
    """The unit of work on a synchronous SQLite engine, in one thread owned by this object."""

    def __init__(self, engine: AsyncEngine) -> None:
        url = engine.url.set(drivername="sqlite+pysqlite")
        self._engine: Engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": WRITER_BUSY_TIMEOUT_S}
        )
        event.listen(self._engine, "connect", sqlite_pragmas)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    async def run(self, work: Callable[[Connection], T]) -> T:
        # A cancelled caller (an activity timing out) does not stop a transaction already in the
        # thread: it commits or rolls back whole, and the retried attempt finds what it did.
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, self._in_transaction, work
        )

    def _in_transaction(self, work: Callable[[Connection], T]) -> T:
        with self._engine.begin() as connection:
            return work(connection)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown(wait=True)


def transactions_for(engine: AsyncEngine) -> Transactions:
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return SqliteThreadTransactions(engine)
    # PostgreSQL, and an in-memory SQLite that only the async engine's connection can see.
    return AsyncDriverTransactions(engine)
