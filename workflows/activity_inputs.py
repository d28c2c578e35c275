"""Inputs and results of the engine's activities: one dataclass each, shared with the workflow."""

# No `from __future__ import annotations`: these dataclasses travel as Temporal payloads, and
# the SDK's converter resolves their type hints on every decode; string annotations would be
# compiled and evaluated again for each one.

from dataclasses import dataclass
from datetime import datetime

from workflows.messages import Decision, IncidentSnapshot


@dataclass(frozen=True)
class RecordDecisionsInput:
    """A batch of decisions in seq order, with the incident as it stands after the last of them
    (the read side's row is brought up to date in the same transaction)."""

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
