"""The ledger writer on its own: exactly once, in order, chained, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.ledger import LedgerActivities, LedgerGap
from db.chain import verify_chain
from db.models import Incident
from db.session import create_engine
from db.transactions import transactions_for
from plans.loader import get_plan
from tests.workflows.support import ledger_rows
from workflows.activity_inputs import RecordDecisionsInput
from workflows.messages import (
    Decision,
    IncidentInput,
    IncidentSnapshot,
    Outcome,
    Phase,
    ViolationReport,
)
from workflows.state import IncidentState

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def snapshot(
    incident_id: str, phase: Phase = Phase.VERIFICATION, outcome: Outcome | None = None
) -> IncidentSnapshot:
    """The state machine's snapshot of an incident, as the workflow sends it with a batch."""
    report = ViolationReport(
        report_id=f"r-{incident_id}", kind="large_scale_offensive", sector="sumy",
        reported_by="ua-gs", observed_at=T0, reported_at=T0,
    )  # fmt: skip
    state = IncidentState(IncidentInput(incident_id, report, get_plan()), T0)
    return replace(state.snapshot(), run_id="run-1", phase=phase, outcome=outcome)


def decisions(first: int, count: int) -> tuple[Decision, ...]:
    return tuple(
        Decision(seq=seq, kind="evidence_accepted", at=T0 + timedelta(minutes=seq), t_plus_hours=seq / 60,
                 actor="isr", rationale=f"item {seq}", payload={"source": f"s{seq}", "n": seq})
        for seq in range(first, first + count)
    )  # fmt: skip


async def record(ledger: LedgerActivities, batch: RecordDecisionsInput):
    return await ActivityEnvironment().run(ledger.record_decisions, batch)


async def test_a_retried_batch_writes_nothing_twice(sessions, ledger_writer):
    ledger = ledger_writer
    incident = f"sumy-{uuid.uuid4().hex[:8]}"
    first = RecordDecisionsInput(snapshot(incident), decisions(1, 3))
    assert (await record(ledger, first)).written == 3
    assert (
        await record(ledger, first)
    ).written == 0  # the activity retried after a lost completion
    second = RecordDecisionsInput(snapshot(incident, phase=Phase.CONSULTATION), decisions(4, 2))
    assert (await record(ledger, second)).written == 2

    rows = await ledger_rows(sessions, incident)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].payload == {"source": "s1", "n": 1} and rows[0].occurred_at == T0 + timedelta(
        minutes=1
    )
    assert verify_chain(f"incident-{incident}", rows) is None
    async with sessions() as session:
        stored = await session.get(Incident, incident)
        assert stored.phase == "consultation" and stored.observed_at == T0


async def test_concurrent_retries_of_one_batch_land_once(sessions, ledger_writer):
    ledger = ledger_writer
    incident = f"sumy-{uuid.uuid4().hex[:8]}"
    await record(ledger, RecordDecisionsInput(snapshot(incident), decisions(1, 1)))
    batch = RecordDecisionsInput(snapshot(incident), decisions(2, 4))
    results = await asyncio.gather(
        *(record(ledger, batch) for _ in range(4)), return_exceptions=True
    )
    written = [r.written for r in results if not isinstance(r, BaseException)]
    # Attempts that lose the race either write nothing or fail and are retried by Temporal.
    assert sum(written) == 4
    assert [r.seq for r in await ledger_rows(sessions, incident)] == [1, 2, 3, 4, 5]


async def test_a_batch_ahead_of_the_ledger_waits_for_its_predecessor(sessions, ledger_writer):
    ledger = ledger_writer
    incident = f"sumy-{uuid.uuid4().hex[:8]}"
    await record(ledger, RecordDecisionsInput(snapshot(incident), decisions(1, 2)))
    with pytest.raises(LedgerGap):
        await record(ledger, RecordDecisionsInput(snapshot(incident), decisions(4, 1)))
    assert [r.seq for r in await ledger_rows(sessions, incident)] == [1, 2]


async def test_other_content_under_an_existing_key_is_refused(sessions, ledger_writer):
    ledger = ledger_writer
    incident = f"sumy-{uuid.uuid4().hex[:8]}"
    await record(ledger, RecordDecisionsInput(snapshot(incident), decisions(1, 2)))
    forged = (
        *decisions(1, 2)[:1],
        Decision(seq=2, kind="authorize", at=T0, t_plus_hours=0, actor="mallory"),
    )
    with pytest.raises(ApplicationError) as refused:
        await record(ledger, RecordDecisionsInput(snapshot(incident), forged))
    # No retry can make the other row go away: refused for good, for the workflow to show.
    assert refused.value.type == "LedgerRefused" and refused.value.non_retryable
    assert "decision 2 of" in refused.value.message and "other content" in refused.value.message
    assert [r.kind for r in await ledger_rows(sessions, incident)] == ["evidence_accepted"] * 2


async def test_a_nul_that_postgresql_cannot_store_is_refused_for_good(
    database_url, sessions, ledger_writer
):
    """PostgreSQL refuses a NUL in text (CharacterNotInRepertoireError): retried, it would fail
    for ever. The validators keep NULs out; were one to reach the ledger, it fails loudly."""
    incident = f"sumy-{uuid.uuid4().hex[:8]}"
    bad = replace(decisions(1, 1)[0], rationale="imagery\x00 of columns")
    batch = RecordDecisionsInput(snapshot(incident), (bad,))
    if database_url.startswith("sqlite"):
        assert (await record(ledger_writer, batch)).written == 1  # SQLite stores a NUL as it is
        return
    with pytest.raises(ApplicationError) as refused:
        await record(ledger_writer, batch)
    assert refused.value.type == "LedgerRefused" and refused.value.non_retryable
    message = refused.value.message
    assert message.startswith("decision 1 refused by the database: ") and "0x00" in message
    assert "\x00" not in message and "[SQL" not in message, message
    assert await ledger_rows(sessions, incident) == []


async def test_a_database_out_of_reach_stays_retryable(database_url, tmp_path):
    url = (
        f"sqlite+aiosqlite:///{tmp_path}/missing/ledger.db"
        if database_url.startswith("sqlite")
        else "postgresql+asyncpg://postgres@127.0.0.1:1/test"
    )
    engine = create_engine(url)
    transactions = transactions_for(engine)
    try:
        batch = RecordDecisionsInput(snapshot(f"sumy-{uuid.uuid4().hex[:8]}"), decisions(1, 1))
        with pytest.raises(Exception) as failed:  # whatever the driver raises
            await record(LedgerActivities(transactions), batch)
        assert not isinstance(failed.value, ApplicationError), failed.value
    finally:
        await transactions.close()
        await engine.dispose()
