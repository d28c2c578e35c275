"""The ledger writer: every decision the workflow takes, persisted exactly once and in order."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.metrics import record_ledger_batch
from db.base import utcnow
from db.models import Incident, LedgerDecision
from db.repository import MUTABLE, row_values
from db.transactions import Transactions
from db.upsert import per_dialect
from foundation.characters import escape_unsafe
from foundation.ids import workflow_id_for
from workflows.activity_inputs import RecordDecisionsInput, RecordDecisionsResult
from workflows.chain import CHAIN_VERSION, LEGACY_CHAIN_VERSION, decision_hash, genesis_hash
from workflows.names import ACTIVITY_RECORD_DECISIONS, LEDGER_REFUSED

log = structlog.get_logger(__name__)


class LedgerGap(Exception):
    """A batch arrived before the row it chains to; retried until the earlier batch lands."""


class LedgerConflict(Exception):
    """A row with this key holds other content: the chain would fork. Needs a human."""


class SealMismatch(LedgerConflict):
    """The workflow's seal of a decision is not the hash its content and the stored chain give:
    the decision or the stored row before it is not what the workflow decided on."""


# SQLSTATE classes no retry cures: a data exception (a NUL in text, a value too long) and an
# integrity constraint violation (a row already there with other content).
_INCURABLE_SQLSTATE_CLASSES = ("22", "23")
PROBLEM_MAX_CHARS = 300


def incurable(exc: BaseException) -> bool:
    """Whether the database refused the batch for good, rather than was out of reach."""
    if isinstance(exc, LedgerConflict | DataError | IntegrityError):
        return True
    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return False
    # asyncpg's errors reach SQLAlchemy as its generic Error: the SQLSTATE says what they are.
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    return sqlstate[:2] in _INCURABLE_SQLSTATE_CLASSES


def _problem(exc: BaseException, batch: RecordDecisionsInput) -> str:
    """One line an operator can act on (the driver's message, not the SQL and its values)."""
    if isinstance(exc, LedgerConflict):
        line = str(exc)
    else:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        text = str(cause).strip()
        message = text.splitlines()[0] if text else type(cause).__name__
        first, last = batch.decisions[0].seq, batch.decisions[-1].seq
        seqs = f"decision {first}" if first == last else f"decisions {first}-{last}"
        line = f"{seqs} refused by the database: {message}"
    return escape_unsafe(line)[:PROBLEM_MAX_CHARS]


class LedgerActivities:
    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    @activity.defn(name=ACTIVITY_RECORD_DECISIONS)
    async def record_decisions(self, batch: RecordDecisionsInput) -> RecordDecisionsResult:
        started = time.perf_counter()
        incident = batch.incident
        try:
            written = await self._transactions.run(partial(_write_batch, batch=batch))
        except Exception as exc:
            if not incurable(exc):
                raise  # the database is out of reach: retried until it is back
            problem = _problem(exc, batch)
            log.error(
                "ledger.refused",
                incident_id=incident.incident_id,
                workflow_id=workflow_id_for(incident.incident_id),
                problem=problem,
                attempt=activity.info().attempt,
            )
            raise ApplicationError(problem, type=LEDGER_REFUSED, non_retryable=True) from exc
        # A batch lands whole or not at all, so the rows written are its last ``written``.
        record_ledger_batch(
            incident.exercise,
            batch.decisions[len(batch.decisions) - written :],
            time.perf_counter() - started,
        )
        first, last = batch.decisions[0].seq, batch.decisions[-1].seq
        log.info(
            "ledger.recorded",
            incident_id=incident.incident_id,
            workflow_id=workflow_id_for(incident.incident_id),
            run_id=incident.run_id,
            seqs=f"{first}-{last}",
            kinds=[d.kind for d in batch.decisions],
            written=written,
            attempt=activity.info().attempt,
        )
        return RecordDecisionsResult(written=written, last_seq=last)


def _write_batch(connection: Connection, batch: RecordDecisionsInput) -> int:
    """The incident's row brought up to date and the batch appended to its chain; rows written."""
    incident = batch.incident
    statements = _statements(connection.dialect.name)
    connection.execute(statements.upsert_incident, row_values(incident))
    workflow_id = workflow_id_for(incident.incident_id)
    prev = _hash_before(connection, incident.incident_id, workflow_id, batch.decisions[0].seq)
    rows = []
    for decision in batch.decisions:
        # A sealed decision carries the workflow's own hash: written as is, once recomputed here
        # from its content and the stored row before it. Older incidents' decisions come unsealed
        # and are hashed here, in the first format.
        sealed = bool(decision.hash)
        version = CHAIN_VERSION if sealed else LEGACY_CHAIN_VERSION
        digest = decision_hash(prev, incident.incident_id, workflow_id, decision, version)
        if sealed and (decision.prev_hash != prev or decision.hash != digest):
            raise SealMismatch(
                f"decision {decision.seq} of {incident.incident_id}: the workflow sealed "
                f"{decision.hash[:12]} after {decision.prev_hash[:12]}, the ledger gives "
                f"{digest[:12]} after {prev[:12]}"
            )
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
                "workflow_id": workflow_id,
                "run_id": decision.run_id if sealed else incident.run_id,
                "recorded_at": utcnow(),
                "chain_version": version,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    written = len(connection.execute(statements.insert_decisions, rows).all())
    if written != len(rows):
        _check_replayed_rows(connection, incident.incident_id, rows)
    return written


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


_statements = per_dialect(_Statements)
_previous_hash = select(LedgerDecision.hash).where(
    LedgerDecision.incident_id == bindparam("incident_id"), LedgerDecision.seq == bindparam("seq")
)


def _hash_before(connection: Connection, incident_id: str, workflow_id: str, seq: int) -> str:
    if seq == 1:
        return genesis_hash(workflow_id)
    prev = connection.scalar(_previous_hash, {"incident_id": incident_id, "seq": seq - 1})
    if prev is None:
        raise LedgerGap(f"decision {seq - 1} of {incident_id} is not in the ledger yet")
    return prev


def _check_replayed_rows(connection: Connection, incident_id: str, rows: list[dict]) -> None:
    """A retried batch finds its rows already written; they must be the very same rows."""
    seqs = [r["seq"] for r in rows]
    stored = dict(
        connection.execute(
            select(LedgerDecision.seq, LedgerDecision.hash).where(
                LedgerDecision.incident_id == incident_id, LedgerDecision.seq.in_(seqs)
            )
        ).all()
    )
    for row in rows:
        if stored.get(row["seq"]) != row["hash"]:
            raise LedgerConflict(
                f"decision {row['seq']} of {incident_id} is already in the ledger with other content"
            )
