"""Alembic upgrade -> check -> downgrade -> upgrade, revision by revision, on SQLite and on
PostgreSQL: every migration can be undone and redone, and the models match the migrated schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from db.migrate import alembic_config
from db.session import create_engine
from tests.conftest import POSTGRES_URL, _admin

# 0005: what a workflow no longer carries, and idempotency keys that outlive a run.
BOUNDED_INCIDENT_TABLES = {"texts", "idempotent_requests"}
# 0007: the notices' outbox.
NOTICE_TABLES = {"deliveries"}
TABLES = (
    {
        "incidents",
        "decisions",
        "notifications",
        "api_tokens",
        "plan_versions",
    }
    | BOUNDED_INCIDENT_TABLES
    | NOTICE_TABLES
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """A database with nothing in it yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
        return
    name = f"contingency_migrations_{uuid.uuid4().hex[:10]}"
    admin = await _admin(POSTGRES_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def alembic(url: str, name: str, *args: str) -> None:
    # env.py runs its own event loop: a thread of its own.
    await asyncio.to_thread(getattr(command, name), alembic_config(url), *args)


async def schema(url: str) -> tuple[set[str], set[str]]:
    """(tables, append-only triggers on decisions)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names())) - {
                "alembic_version"
            }
            if engine.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'decisions'"
            else:
                query = (
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'decisions'::regclass AND NOT tgisinternal"
                    if "decisions" in tables
                    else "SELECT 'none' WHERE false"
                )
            triggers = {row[0] for row in (await conn.execute(text(query))).all()}
    finally:
        await engine.dispose()
    return tables, triggers


async def test_every_migration_goes_down_and_up_again(empty_url):
    revisions = [
        s.revision
        for s in ScriptDirectory.from_config(alembic_config(empty_url)).walk_revisions(
            "base", "heads"
        )
    ]
    revisions.reverse()  # oldest first
    assert revisions[:3] == ["0001", "0002", "0003"]

    await alembic(empty_url, "upgrade", "head")
    await alembic(empty_url, "check")  # the models and the migrated schema agree
    tables, triggers = await schema(empty_url)
    assert tables == TABLES
    assert triggers >= (
        {"decisions_no_update", "decisions_no_delete"}
        if empty_url.startswith("sqlite")
        else {"decisions_append_only", "decisions_no_truncate"}
    )

    # Down one revision at a time to nothing, then up one at a time, checking at the top.
    for _ in revisions:
        await alembic(empty_url, "downgrade", "-1")
    assert await schema(empty_url) == (set(), set())
    for revision in revisions:
        await alembic(empty_url, "upgrade", revision)
    await alembic(empty_url, "check")
    assert await schema(empty_url) == (tables, triggers)

    # 0003 alone: down removes the triggers and only them (and the later 0005-0007's tables),
    # up restores them.
    await alembic(empty_url, "downgrade", "0002")
    later = BOUNDED_INCIDENT_TABLES | {"plan_versions"} | NOTICE_TABLES
    assert await schema(empty_url) == (tables - later, set())
    await alembic(empty_url, "upgrade", "head")
    assert await schema(empty_url) == (tables, triggers)
