"""The ledger writer: every decision the workflow takes, persisted exactly once and in order."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.inputs import IncidentSnapshot, RecordDecisionsInput, RecordDecisionsResult
from contingency.metrics import record_ledger_batch
from db.base import utcnow
from db.chain import decision_hash, genesis_hash
from db.models import Incident, LedgerDecision
from db.upsert import dialect_of

log = structlog.get_logger(__name__)


class LedgerGap(Exception):
    """A batch arrived before the row it chains to; retried until the earlier batch lands."""


class LedgerConflict(Exception):
    """A row with this key holds other content: the chain would fork. Needs a human."""


class LedgerActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="record_decisions")
    async def record_decisions(self, batch: RecordDecisionsInput) -> RecordDecisionsResult:
        started = time.perf_counter()
        incident = batch.incident
        bound = log.bind(
            incident_id=incident.incident_id, workflow_id=incident.workflow_id, run_id=incident.run_id
        )
        async with self._sessions.begin() as session:
            await _upsert_incident(session, incident)
            first = batch.decisions[0].seq
            prev = await _hash_before(session, incident, first)
            rows = []
            for decision in batch.decisions:
                digest = decision_hash(prev, incident.incident_id, incident.workflow_id, decision)
                rows.append(
                    {
                        "incident_id": incident.incident_id,
                        "seq": decision.seq,
                        "kind": decision.kind,
                        "actor": decision.actor,
                        "rationale": decision.rationale,
                        "payload": decision.payload,
                        "occurred_at": decision.at,
                        "t_plus_hours": decision.t_plus_hours,
                        "workflow_id": incident.workflow_id,
                        "run_id": incident.run_id,
                        "recorded_at": utcnow(),
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                prev = digest
            result = await session.execute(_statements(_dialect(session)).insert_decisions, rows)
            written = len(result.all())
            if written != len(rows):
                await _check_replayed_rows(session, incident.incident_id, rows)
        # A batch lands whole or not at all, so the rows written are its last ``written``.
        record_ledger_batch(
            incident.exercise, batch.decisions[len(batch.decisions) - written :], time.perf_counter() - started
        )
        last = batch.decisions[-1].seq
        bound.info(
            "ledger.recorded",
            seqs=f"{first}-{last}",
            kinds=[d.kind for d in batch.decisions],
            written=written,
            attempt=activity.info().attempt,
        )
        return RecordDecisionsResult(written=written, last_seq=last)


async def _upsert_incident(session: AsyncSession, snap: IncidentSnapshot) -> None:
    values = {
        "id": snap.incident_id,
        "report_id": snap.report_id,
        "workflow_id": snap.workflow_id,
        "run_id": snap.run_id,
        "plan_id": snap.plan_id,
        "plan_version": snap.plan_version,
        "kind": snap.kind,
        "sector": snap.sector,
        "reported_by": snap.reported_by,
        "summary": snap.summary,
        "exercise": snap.exercise,
        "observed_at": snap.t0,
        "reported_at": snap.reported_at,
        "window_closes_at": snap.window_closes_at,
        "phase": snap.phase,
        "outcome": snap.outcome,
        "escalation_level": snap.escalation_level,
        "next_deadline_at": snap.next_deadline_at,
        "closed_at": snap.closed_at,
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    await session.execute(_statements(_dialect(session)).upsert_incident, values)


MUTABLE = ("run_id", "kind", "phase", "outcome", "escalation_level", "next_deadline_at", "closed_at", "updated_at")


class _Statements:
    """The ledger's two writes, built once per dialect: a statement whose values travel as
    parameters is compiled once and then served from SQLAlchemy's cache, where one built
    with ``.values(...)`` for every batch was compiled again on every call."""

    def __init__(self, dialect: Any) -> None:
        upsert = dialect.insert(Incident.__table__)
        self.upsert_incident = upsert.on_conflict_do_update(
            index_elements=["id"], set_={k: upsert.excluded[k] for k in MUTABLE}
        )
        # RETURNING yields only the rows this attempt inserted: rows a retried batch already
        # wrote are skipped by ON CONFLICT and not counted. Executed with one parameter set per
        # row, SQLAlchemy sends it as a single multi-row INSERT ("insertmanyvalues").
        self.insert_decisions = (
            dialect.insert(LedgerDecision.__table__)
            .on_conflict_do_nothing(index_elements=["incident_id", "seq"])
            .returning(LedgerDecision.__table__.c.seq)
        )


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


@cache
def _statements(dialect: str) -> _Statements:
    return _Statements(dialect_of(dialect))


async def _hash_before(session: AsyncSession, snap: IncidentSnapshot, seq: int) -> str:
    if seq == 1:
        return genesis_hash(snap.workflow_id)
    prev = await session.scalar(
        select(LedgerDecision.hash).where(
            LedgerDecision.incident_id == snap.incident_id, LedgerDecision.seq == seq - 1
        )
    )
    if prev is None:
        raise LedgerGap(f"decision {seq - 1} of {snap.incident_id} is not in the ledger yet")
    return prev


async def _check_replayed_rows(session: AsyncSession, incident_id: str, rows: list[dict]) -> None:
    """A retried batch finds its rows already written; they must be the very same rows."""
    seqs = [r["seq"] for r in rows]
    stored = dict(
        (
            await session.execute(
                select(LedgerDecision.seq, LedgerDecision.hash).where(
                    LedgerDecision.incident_id == incident_id, LedgerDecision.seq.in_(seqs)
                )
            )
        ).all()
    )
    for row in rows:
        if stored.get(row["seq"]) != row["hash"]:
            raise LedgerConflict(
                f"decision {row['seq']} of {incident_id} is already in the ledger with other content"
            )
