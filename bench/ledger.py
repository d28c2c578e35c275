"""Benchmark 5: decisions/s written by ``LedgerActivities.record_decisions`` (no Temporal).

On SQLite (a temp file) and PostgreSQL (a temp database on 127.0.0.1:5432, dropped after),
one writer and several concurrent writers (each its own incident), batches of 1 and of 20.
Baseline: the same rows inserted with one plain ``INSERT`` per batch in one transaction (no
incident upsert, no hash chain, no idempotency check), on the same engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.engine import make_url
from temporalio.testing import ActivityEnvironment

from activities.ledger import LedgerActivities
from bench import harness
from bench.report import Result, ratio
from db.base import utcnow
from db.chain import genesis_hash
from db.migrate import upgrade_async
from db.models import Incident, LedgerDecision
from db.repository import row_values
from db.session import create_engine, session_factory
from db.transactions import transactions_for
from foundation.ids import workflow_id_for
from plans.loader import get_plan
from workflows.activity_inputs import RecordDecisionsInput
from workflows.messages import Decision, IncidentInput, IncidentSnapshot, ViolationReport
from workflows.state import IncidentState

POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@contextlib.asynccontextmanager
async def temp_postgres() -> AsyncIterator[str]:
    import asyncpg

    parsed = make_url(POSTGRES_URL)
    admin = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        database=parsed.database or "postgres",
    )
    name = f"contingency_bench_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = parsed.set(database=name).render_as_string(hide_password=False)
        await upgrade_async(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _snapshot(incident_id: str) -> IncidentSnapshot:
    """The state machine's snapshot of an exercise incident, as a ledger batch carries it."""
    report = ViolationReport(
        report_id=f"report-{incident_id}",
        kind="large_scale_offensive",
        sector="sector-1",
        reported_by="observer-mission",
        summary="bench",
        observed_at=T0,
        reported_at=T0,
    )
    incident = IncidentInput(incident_id, report, get_plan(), exercise=True)
    return replace(IncidentState(incident, T0).snapshot(), run_id=uuid.uuid4().hex)


def _decision(seq: int) -> Decision:
    at = T0 + timedelta(minutes=seq)
    return Decision(
        seq=seq,
        kind="commitment",
        at=at,
        t_plus_hours=round(seq / 60, 4),
        actor="us-liaison",
        rationale="air assets on standby",
        payload={"party": "us", "answer": "commit", "assets": ["air"], "previous": None},
    )


def _batches(decisions: int, batch: int) -> list[tuple[Decision, ...]]:
    return [
        tuple(_decision(s) for s in range(first, min(first + batch, decisions + 1)))
        for first in range(1, decisions + 1, batch)
    ]


async def _engine_writers(url: str, writers: int, decisions: int, batch: int) -> float:
    """Decisions/s through the activity: each writer its own incident, batches in order."""
    engine = create_engine(url)
    transactions = transactions_for(engine)
    ledger = LedgerActivities(transactions)
    env = ActivityEnvironment()

    async def writer() -> None:
        snap = _snapshot(uuid.uuid4().hex[:12])
        for chunk in _batches(decisions, batch):
            await env.run(
                ledger.record_decisions, RecordDecisionsInput(incident=snap, decisions=chunk)
            )

    try:
        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        return writers * decisions / (time.perf_counter() - started)
    finally:
        await transactions.close()
        await engine.dispose()


async def _bare_writers(url: str, writers: int, decisions: int, batch: int) -> float:
    """The same rows with one plain INSERT per batch: what the database itself costs."""
    engine = create_engine(url)
    sessions = session_factory(engine)

    async def writer() -> None:
        snap = _snapshot(uuid.uuid4().hex[:12])
        async with sessions.begin() as session:
            session.add(Incident(**row_values(snap)))
        workflow_id = workflow_id_for(snap.incident_id)
        prev = genesis_hash(workflow_id)
        for chunk in _batches(decisions, batch):
            rows = [
                {
                    "incident_id": snap.incident_id,
                    "seq": d.seq,
                    "kind": d.kind,
                    "actor": d.actor,
                    "rationale": d.rationale,
                    "payload": d.payload,
                    "occurred_at": d.at,
                    "t_plus_hours": d.t_plus_hours,
                    "workflow_id": workflow_id,
                    "run_id": snap.run_id,
                    "recorded_at": utcnow(),
                    "prev_hash": prev,
                    "hash": prev,
                }
                for d in chunk
            ]
            async with sessions.begin() as session:
                await session.execute(insert(LedgerDecision.__table__), rows)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(writers)))
        return writers * decisions / (time.perf_counter() - started)
    finally:
        await engine.dispose()


async def _measure(result: Result, backend: str, url: str, quick: bool) -> None:
    decisions = 20 if quick else 400
    for writers in (1, 8):
        for batch in (1, 20):
            per_writer = decisions if writers == 1 else max(decisions // 4, 20)
            await _engine_writers(url, 1, 20, batch)  # warm the pool and the statement cache
            engine_rate = await _engine_writers(url, writers, per_writer, batch)
            bare_rate = await _bare_writers(url, writers, per_writer, batch)
            result.add(
                f"{backend}, {writers} writer{'s' if writers > 1 else ''}, batch {batch}",
                round(engine_rate, 1),
                "decisions/s",
                baseline=round(bare_rate, 1),
                ratio=ratio(engine_rate, bare_rate),
            )


async def run(quick: bool) -> Result:
    result = Result(
        "ledger",
        "Ledger: decisions/s written by record_decisions (no Temporal)",
        baseline_label="plain INSERT",
    )
    async with harness.temp_sqlite() as url:
        await _measure(result, "SQLite", url, quick)
    try:
        async with temp_postgres() as url:
            await _measure(result, "PostgreSQL", url, quick)
    except (OSError, ImportError) as exc:
        result.notes.append(f"PostgreSQL not measured: {exc}")
    result.notes.append(
        "ratio = engine / plain INSERT (higher is better): the same rows, one Core INSERT per batch, "
        "no incident upsert, hash chain or idempotency check"
    )
    return result
