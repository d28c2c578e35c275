"""Alembic upgrade -> check -> downgrade -> upgrade, revision by revision, on SQLite and on
PostgreSQL: every migration can be undone and redone, and the models match the migrated schema."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

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
# 0009: a row per report (reports of one offensive join one response).
REPORT_TABLES = {"reports"}
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
    | REPORT_TABLES
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
    later = BOUNDED_INCIDENT_TABLES | {"plan_versions"} | NOTICE_TABLES | REPORT_TABLES
    assert await schema(empty_url) == (tables - later, set())
    await alembic(empty_url, "upgrade", "head")
    assert await schema(empty_url) == (tables, triggers)


async def test_existing_incidents_gain_their_report_sectors_and_activation_time(empty_url):
    """0008 and 0009 on a ledger with incidents: an activated incident's activated_at is when
    it closed (activation closed it then), and each incident's own report becomes its first
    report row, its sectors its one sector."""
    await alembic(empty_url, "upgrade", "0007")
    engine = create_engine(empty_url)
    columns = (
        "id, report_id, workflow_id, plan_id, plan_version, kind, sector, reported_by, summary, "
        "exercise, observed_at, reported_at, window_closes_at, phase, outcome, escalation_level, "
        "schedule, closed_at, report_digest, created_at, updated_at"
    )
    t0, closed = datetime(2026, 11, 27, 6, tzinfo=UTC), datetime(2026, 11, 28, 12, tzinfo=UTC)
    try:
        async with engine.begin() as conn:
            for n, outcome in ((1, "activated"), (2, None)):
                await conn.execute(
                    text(
                        f"INSERT INTO incidents ({columns}) VALUES (:id, :report, :wf, 'allied-72h', 2, "
                        "'large_scale_offensive', 'Donetsk', 'ua-gs', '', false, :t0, :t0, :t0, "
                        "'closed', :outcome, 1, '[]', :closed, 'd', :t0, :t0)"
                    ),
                    {
                        "id": f"donetsk-{n}", "report": f"r-{n}", "wf": f"incident-donetsk-{n}",
                        "t0": t0, "outcome": outcome, "closed": closed if outcome else None,
                    },
                )  # fmt: skip
    finally:
        await engine.dispose()
    await alembic(empty_url, "upgrade", "head")
    engine = create_engine(empty_url)
    try:
        async with engine.connect() as conn:
            incidents = (
                await conn.execute(
                    text("SELECT id, activated_at, closed_at, sectors FROM incidents ORDER BY id")
                )
            ).all()
            reports = (
                await conn.execute(
                    text(
                        "SELECT report_id, incident_id, joined, sector FROM reports ORDER BY report_id"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    (activated, open_one) = incidents
    assert activated.activated_at is not None and str(activated.activated_at)[:10] == "2026-11-28"
    assert open_one.activated_at is None
    assert [
        json.loads(i.sectors) if isinstance(i.sectors, str) else i.sectors for i in incidents
    ] == [
        ["Donetsk"],
        ["Donetsk"],
    ]
    assert [(r.report_id, r.incident_id, bool(r.joined), r.sector) for r in reports] == [
        ("r-1", "donetsk-1", False, "Donetsk"),
        ("r-2", "donetsk-2", False, "Donetsk"),
    ]
