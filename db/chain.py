"""Verifying an incident's stored chain: the hash function is the workflow's own
(:mod:`workflows.chain`), applied to each row in the format its ``chain_version`` names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from workflows.chain import CHAIN_VERSION, decision_hash, genesis_hash, row_hash

__all__ = ["CHAIN_VERSION", "ChainBreak", "decision_hash", "genesis_hash", "row_hash"]


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
    run_id: str
    chain_version: int
    prev_hash: str
    hash: str


def stored_hash(row: ChainedRow, prev_hash: str) -> str:
    """The hash ``row`` must carry after ``prev_hash``, in its own format."""
    return row_hash(
        prev_hash=prev_hash,
        incident_id=row.incident_id,
        seq=row.seq,
        kind=row.kind,
        actor=row.actor,
        rationale=row.rationale,
        payload=row.payload,
        occurred_at=row.occurred_at,
        t_plus_hours=row.t_plus_hours,
        workflow_id=row.workflow_id,
        run_id=row.run_id,
        version=row.chain_version,
    )


@dataclass(frozen=True)
class ChainBreak:
    seq: int | None
    problem: str


def verify_chain(workflow_id: str, rows: Iterable[ChainedRow]) -> ChainBreak | None:
    """The first place the chain of one incident's rows (in seq order) is broken, if any."""
    expected_prev = genesis_hash(workflow_id)
    expected_seq = 1
    version = None
    for row in rows:
        if row.seq != expected_seq:
            problem = "missing" if row.seq > expected_seq else "duplicated or out of order"
            return ChainBreak(
                expected_seq, f"row {expected_seq} is {problem} (found seq {row.seq})"
            )
        if row.workflow_id != workflow_id:
            return ChainBreak(
                row.seq, f"row {row.seq} names workflow {row.workflow_id!r}, not {workflow_id!r}"
            )
        # The format only moves forward (an incident upgraded in flight): a row relabelled to an
        # older one would shed the seals the newer format adds.
        if version is not None and row.chain_version < version:
            return ChainBreak(
                row.seq,
                f"row {row.seq} is chain version {row.chain_version} after version {version}",
            )
        version = row.chain_version
        if row.prev_hash != expected_prev:
            return ChainBreak(
                row.seq,
                "prev_hash does not match the row before it (a row was removed or inserted)",
            )
        try:
            recomputed = stored_hash(row, row.prev_hash)
        except ValueError as exc:
            return ChainBreak(row.seq, str(exc))
        if recomputed != row.hash:
            return ChainBreak(row.seq, "content does not match its hash (the row was altered)")
        expected_prev = row.hash
        expected_seq += 1
    return None
