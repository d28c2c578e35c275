"""What every request handler needs: the Temporal client, the database, the settings, a clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from db.transactions import Transactions
from foundation.settings import Settings

# Async so that tests on the time-skipping server can pass its virtual clock.
Clock = Callable[[], Awaitable[datetime]]


async def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApiContext:
    settings: Settings
    client: Client
    sessions: async_sessionmaker[AsyncSession]  # reads
    transactions: Transactions  # writes (on SQLite: the process's one writer thread)
    clock: Clock = wall_clock
    # (plan id, version, digest) the plan registry has confirmed: a registered version never
    # changes, so each is checked against the database once per process.
    plans_confirmed: set[tuple[str, int, str]] = field(default_factory=set)
    # Audiences the plans can address that the contacts file gives no channel, as the board
    # warns of them (read once: the worker reads the same file when it starts).
    _unconfigured: list[str] | None = None

    def unconfigured_audiences(self) -> list[str]:
        if self._unconfigured is None:
            from activities.contacts import (
                ContactsError,
                contacts_from_settings,
                unconfigured_audiences,
            )
            from plans.loader import load_plans

            try:
                contacts = contacts_from_settings(self.settings)
                found = unconfigured_audiences(contacts, load_plans().values())
            except ContactsError as exc:
                found = [f"the contacts file cannot be used: {exc}"]
            self._unconfigured = found
        return self._unconfigured

    @property
    def task_queue(self) -> str:
        return self.settings.task_queue


def get_context(request: Request) -> ApiContext:
    context: ApiContext | None = getattr(request.app.state, "context", None)
    if context is None:  # only between process start and the end of the lifespan start-up
        from api.errors import ApiError

        raise ApiError(503, "unavailable", "the API is starting up; retry shortly")
    return context
