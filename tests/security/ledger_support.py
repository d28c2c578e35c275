"""An incident's ledger written by the real ledger activity, from decisions of the pure plan logic,
and the tools of an attacker with owner rights on the database: triggers out of the way, rows
edited, the chain rebuilt to match."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from activities.ledger import LedgerActivities
from contingency.cli.main import app as cli_app
from db.chain import stored_hash
from db.models import Incident, LedgerDecision
from db.repository import IncidentRepository
from foundation.ids import workflow_id_for
from plans.loader import get_plan
from workflows.activity_inputs import RecordDecisionsInput
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    Decision,
    DecisionInput,
    Evidence,
    IncidentSnapshot,
    IncidentView,
    ViolationReport,
)
from workflows.starting import build_input
from workflows.state import CURRENT_RULES, IncidentState, Rules

RUN_ID = "run-1"


@dataclass(frozen=True)
class WrittenLedger:
    incident_id: str
    workflow_id: str
    decisions: tuple[Decision, ...]
    outcome: str
    # The final view the workflow would return: the seq and head the ledger must end at.
    view: IncidentView


def activated_incident(rules: Rules = CURRENT_RULES) -> tuple[IncidentState, str]:
    """A full activation through the pure state machine: 12 decisions, the last closing it (the
    plan's life after activation left out: the ledgers here end at the outcome)."""
    t0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    report = ViolationReport(
        report_id=f"tamper-{uuid.uuid4().hex}",
        kind="large_scale_offensive",
        sector="zaporizhzhia",
        reported_by="ua-general-staff",
        observed_at=t0,
        reported_at=t0,
        evidence=(Evidence("allied-isr", "imagery"),),
    )
    incident = build_input(report, replace(get_plan(), after_activation=None))
    state = IncidentState(incident, t0, rules, run_id=RUN_ID)
    for step in state.dispatch_queue:
        state.dispatch_succeeded(step, t0 + timedelta(minutes=5), "log")
    state.dispatch_queue.clear()
    for hours, party, assets in ((3, "uk", ("air",)), (4, "pl", ("ground",)), (5, "fr", ("air",))):
        state.add_commitment(
            CommitmentInput(party, Answer.COMMIT, assets, f"ally:{party}"),
            t0 + timedelta(hours=hours),
        )
    state.decide(
        DecisionInput(Action.AUTHORIZE, "nac-chair", "quorum reached"), t0 + timedelta(hours=6)
    )
    state.advance(t0 + timedelta(hours=6))
    assert state.outcome is not None
    return state, incident.incident_id


def snapshot(state: IncidentState) -> IncidentSnapshot:
    return replace(state.snapshot(), run_id=RUN_ID)


async def write_ledger(ledger: LedgerActivities, rules: Rules = CURRENT_RULES) -> WrittenLedger:
    state, incident_id = activated_incident(rules)
    decisions = tuple(state.decisions)
    snap = snapshot(state)
    # In three batches, as the workflow would over time.
    for batch in (decisions[:4], decisions[4:9], decisions[9:]):
        await ActivityEnvironment().run(ledger.record_decisions, RecordDecisionsInput(snap, batch))
    return WrittenLedger(
        incident_id,
        workflow_id_for(incident_id),
        decisions,
        str(state.outcome),
        state.view(len(decisions)),
    )


MIGRATION = next((Path(__file__).parents[2] / "db" / "migrations" / "versions").glob("*_0003_*.py"))


def _migration_0003() -> Any:
    spec = importlib.util.spec_from_file_location("migration_0003", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def tamper(engine: AsyncEngine, *statements: tuple[str, dict[str, Any]]) -> None:
    """Run ``statements`` with the append-only triggers out of the way, in one transaction
    (PostgreSQL: ``session_replication_role = replica``; SQLite: dropped and re-created)."""
    sqlite = engine.dialect.name == "sqlite"
    async with engine.begin() as conn:
        if sqlite:
            await conn.execute(text("DROP TRIGGER decisions_no_update"))
            await conn.execute(text("DROP TRIGGER decisions_no_delete"))
        else:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for sql, params in statements:
            await conn.execute(text(sql), params)
        if sqlite:
            for statement in _migration_0003().SQLITE_UP:
                await conn.execute(text(statement))


def rechained(
    rows: Sequence[LedgerDecision], seq: int, edit: Callable[[LedgerDecision], dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """Statements that apply ``edit`` (column -> value) to row ``seq`` and recompute every hash
    from it on, each in its row's own format: a chain that verifies on its own."""
    statements: list[tuple[str, dict[str, Any]]] = []
    prev = rows[seq - 1].prev_hash
    for row in rows[seq - 1 :]:
        changes = edit(row) if row.seq == seq else {}
        edited = _Row({**{c: getattr(row, c) for c in _CHAINED}, **changes})
        digest = stored_hash(edited, prev)  # type: ignore[arg-type]
        sets = ", ".join(f"{c} = :{c}" for c in changes)
        statements.append(
            (
                f"UPDATE decisions SET {sets + ', ' if sets else ''}prev_hash = :prev, hash = :hash"
                " WHERE incident_id = :id AND seq = :seq",
                {**changes, "prev": prev, "hash": digest, "id": row.incident_id, "seq": row.seq},
            )
        )
        prev = digest
    return statements


_CHAINED = (
    "incident_id", "seq", "kind", "actor", "rationale", "payload", "occurred_at", "t_plus_hours",
    "workflow_id", "run_id", "chain_version",
)  # fmt: skip


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


async def rows_of(
    sessions: async_sessionmaker[AsyncSession], incident_id: str
) -> list[LedgerDecision]:
    async with sessions() as session:
        return await IncidentRepository(session).ledger(incident_id)


async def incident_of(sessions: async_sessionmaker[AsyncSession], incident_id: str) -> Incident:
    async with sessions() as session:
        incident = await session.get(Incident, incident_id)
    assert incident is not None
    return incident


async def cli_verify(database_url: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """``contingency ledger verify ARGS`` on the test's database (in a thread: the command runs
    its own event loop)."""
    return await asyncio.to_thread(
        CliRunner().invoke,
        cli_app,
        ["ledger", "verify", *args, "--database-url", database_url],
        env=env,
    )
