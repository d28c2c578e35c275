"""Inputs and results of the engine's activities: one dataclass each, shared with the workflow."""

# No `from __future__ import annotations`: these dataclasses travel as Temporal payloads, and
# the SDK's converter resolves their type hints on every decode; string annotations would be
# compiled and evaluated again for each one.

from dataclasses import dataclass
from datetime import datetime

from workflows.messages import Decision


@dataclass(frozen=True)
class IncidentSnapshot:
    """What the read side keeps of an incident, sent along with every ledger batch."""

    incident_id: str
    report_id: str
    workflow_id: str
    run_id: str
    plan_id: str
    plan_version: int
    kind: str
    sector: str
    reported_by: str
    summary: str
    exercise: bool
    t0: datetime
    reported_at: datetime
    window_closes_at: datetime
    phase: str
    outcome: str | None
    escalation_level: int
    next_deadline_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class RecordDecisionsInput:
    incident: IncidentSnapshot
    decisions: tuple[Decision, ...]


@dataclass(frozen=True)
class RecordDecisionsResult:
    written: int  # rows inserted by this attempt; a retried batch writes 0
    last_seq: int


@dataclass(frozen=True)
class DispatchStepInput:
    incident_id: str
    workflow_id: str
    step: str
    title: str
    kind: str
    sector: str
    t0: datetime
    escalation_level: int
    exercise: bool


@dataclass(frozen=True)
class DispatchResult:
    channel: str
    idempotency_key: str
    delivered_at: datetime
    already_delivered: bool
