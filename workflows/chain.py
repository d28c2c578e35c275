"""The ledger's hash chain, as a pure function of a decision: the workflow seals each decision as
it records it, the ledger writer checks the seal, and the audit recomputes it.

Each hash seals a decision's content and the hash of the decision before it; the first decision
of an incident chains to a genesis hash of its workflow id, so a row cannot be moved to another
incident, and any edit, removal or insertion breaks the chain at the first row it touches.

Two formats, told apart by the row's ``chain_version``:

1. the content, the incident and the workflow id (rows written before the workflow sealed them);
2. the same, plus the workflow run that decided it and the version itself, so a row cannot be
   passed off as another run's (a reset) and a v1 row cannot be relabelled v2.

The wall-clock time a write was attempted (``recorded_at``) stays outside both: a retried write
must produce the very same hash.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Protocol

CHAIN_VERSION = 2
LEGACY_CHAIN_VERSION = 1


class Sealable(Protocol):
    seq: int
    kind: str
    at: datetime
    t_plus_hours: float
    actor: str
    rationale: str
    payload: dict[str, Any]
    run_id: str


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
    run_id: str = "",
    version: int = LEGACY_CHAIN_VERSION,
) -> str:
    content: dict[str, Any] = {
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
    if version >= 2:
        content |= {"run_id": run_id, "v": version}
    elif version != LEGACY_CHAIN_VERSION:
        raise ValueError(f"unknown chain version {version}")
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def decision_hash(
    prev_hash: str,
    incident_id: str,
    workflow_id: str,
    decision: Sealable,
    version: int = CHAIN_VERSION,
) -> str:
    """The hash of a workflow decision, which its ledger row carries."""
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
        run_id=decision.run_id,
        version=version,
    )
