"""The ledger's hash chain: each row seals its content and the hash of the row before it.

The first row of an incident chains to a genesis hash derived from the workflow id, so a row
cannot be moved to another incident, and any edit, removal or insertion breaks the chain at
the first row it touches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol


class ChainedRow(Protocol):
    incident_id: str
    seq: int
    kind: str
    actor: str
    rationale: str
    payload: dict[str, Any]
    occurred_at: datetime
    t_plus_hours: float
    workflow_id: str
    prev_hash: str
    hash: str


def genesis_hash(workflow_id: str) -> str:
    return hashlib.sha256(f"genesis:{workflow_id}".encode()).hexdigest()


def row_hash(
    *,
    prev_hash: str,
    incident_id: str,
    seq: int,
    kind: str,
    actor: str,
    rationale: str,
    payload: dict[str, Any],
    occurred_at: datetime,
    t_plus_hours: float,
    workflow_id: str,
) -> str:
    content = {
        "prev": prev_hash,
        "incident_id": incident_id,
        "seq": seq,
        "kind": kind,
        "actor": actor,
        "rationale": rationale,
        "payload": payload,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
        "t_plus_hours": round(float(t_plus_hours), 4),
        "workflow_id": workflow_id,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class DecisionLike(Protocol):
    seq: int
    kind: str
    at: datetime
    t_plus_hours: float
    actor: str
    rationale: str
    payload: dict[str, Any]


def decision_hash(
    prev_hash: str, incident_id: str, workflow_id: str, decision: DecisionLike
) -> str:
    """The hash the ledger row of a workflow decision must carry."""
    return row_hash(
        prev_hash=prev_hash,
        incident_id=incident_id,
        seq=decision.seq,
        kind=decision.kind,
        actor=decision.actor,
        rationale=decision.rationale,
        payload=decision.payload,
        occurred_at=decision.at,
        t_plus_hours=decision.t_plus_hours,
        workflow_id=workflow_id,
    )


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


def verify_chain(workflow_id: str, rows: Iterable[ChainedRow]) -> ChainBreak | None:
    """The first place the chain of one incident's rows (in seq order) is broken, if any."""
    expected_prev = genesis_hash(workflow_id)
    expected_seq = 1
    for row in rows:
        if row.seq != expected_seq:
            problem = "missing" if row.seq > expected_seq else "duplicated or out of order"
            return ChainBreak(
                expected_seq, f"row {expected_seq} is {problem} (found seq {row.seq})"
            )
        if row.prev_hash != expected_prev:
            return ChainBreak(
                row.seq,
                "prev_hash does not match the row before it (a row was removed or inserted)",
            )
        recomputed = row_hash(
            prev_hash=row.prev_hash,
            incident_id=row.incident_id,
            seq=row.seq,
            kind=row.kind,
            actor=row.actor,
            rationale=row.rationale,
            payload=row.payload,
            occurred_at=row.occurred_at,
            t_plus_hours=row.t_plus_hours,
            workflow_id=row.workflow_id,
        )
        if recomputed != row.hash:
            return ChainBreak(row.seq, "content does not match its hash (the row was altered)")
        expected_prev = row.hash
        expected_seq += 1
    return None
