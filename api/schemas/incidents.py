"""Incidents: the list (read side), the live state (workflow query), the ledger, and the
evidence, commitments and decisions people submit."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import (
    FreeText,
    PlanName,
    Rationale,
    RequestModel,
    Source,
)
from workflows.messages import (
    Action,
    Answer,
    Awaiting,
    DeadlineStatus,
    Outcome,
    Phase,
    Verification,
)


class _FromAttributes(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IncidentSummary(_FromAttributes):
    incident_id: str = Field(validation_alias="id")
    report_id: str
    workflow_id: str
    plan_id: str
    plan_version: int
    kind: str
    sector: str
    reported_by: str
    summary: str
    exercise: bool
    observed_at: datetime
    reported_at: datetime
    window_closes_at: datetime
    phase: str
    outcome: str | None
    escalation_level: int
    next_deadline_at: datetime | None
    closed_at: datetime | None


class IncidentList(BaseModel):
    incidents: list[IncidentSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(
        description="Pass as offset for the next page; null on the last page"
    )


class DeadlineOut(_FromAttributes):
    name: str
    title: str
    due_at: datetime
    due_hours: float = Field(description="Plan hours after T0")
    status: DeadlineStatus
    seconds_left: float | None = Field(
        default=None, description="Pending deadlines only: seconds until due (negative if overdue)"
    )


class CommitmentOut(_FromAttributes):
    party: str
    answer: Answer
    assets: list[str]
    at: datetime
    actor: str


class EscalationOut(_FromAttributes):
    level: int
    authority: str
    at: datetime
    t_plus_hours: float
    reason: str


class QuorumOut(_FromAttributes):
    committed: list[str]
    declined: list[str]
    min_committed: int
    required_assets: list[str]
    missing_assets: list[str]
    holds: bool


class TimelineEntry(_FromAttributes):
    seq: int
    kind: str
    at: datetime
    t_plus_hours: float
    actor: str
    rationale: str
    payload: dict[str, Any]


class IncidentDetail(_FromAttributes):
    """The live state of an incident, as its workflow holds it."""

    incident_id: str
    workflow_id: str
    status: Literal["running", "completed"]
    as_of: datetime
    plan_id: str
    plan_version: int
    report_id: str
    kind: str
    sector: str
    reported_by: str
    summary: str
    exercise: bool
    time_scale: float
    t0: datetime
    reported_at: datetime
    window_closes_at: datetime
    phase: Phase
    awaiting: Awaiting
    outcome: Outcome | None
    closed_at: datetime | None
    escalation_level: int
    escalation_authority: str
    verification: Verification
    sources: list[str]
    quorum: QuorumOut
    commitments: list[CommitmentOut]
    authorized_by: str | None
    dispatched: list[str]
    deadlines: list[DeadlineOut]
    next_deadline: DeadlineOut | None
    escalations: list[EscalationOut]
    unmet_conditions: list[str]
    timeline: list[TimelineEntry]
    persisted_seq: int = Field(description="Decisions up to this seq are in the ledger")


class LedgerRow(_FromAttributes):
    seq: int
    kind: str
    actor: str
    rationale: str
    payload: dict[str, Any]
    occurred_at: datetime
    t_plus_hours: float
    recorded_at: datetime
    prev_hash: str
    hash: str


class ChainStatus(BaseModel):
    intact: bool
    broken_at_seq: int | None = None
    problem: str | None = None


class Ledger(BaseModel):
    incident_id: str
    workflow_id: str
    chain: ChainStatus
    decisions: list[LedgerRow]


class EvidenceIn(RequestModel):
    source: Source = Field(
        description="Who provides the evidence; a new source counts towards verification"
    )
    summary: FreeText = ""


class CommitmentIn(RequestModel):
    party: PlanName | None = Field(
        default=None, description="Defaults to the party of the ally token"
    )
    answer: Answer
    assets: list[PlanName] = Field(default_factory=list, max_length=20)
    rationale: FreeText = ""


class DecisionIn(RequestModel):
    action: Action
    rationale: Rationale
    new_kind: PlanName | None = Field(
        default=None, description="reclassify only: the kind it becomes"
    )


class Receipt(_FromAttributes):
    """The workflow's answer to an accepted submission, once it is in the ledger."""

    incident_id: str
    update_id: str
    seq: int = Field(description="Ledger seq of the first decision this submission recorded")
    decisions: list[str]
    phase: Phase
    outcome: Outcome | None
    escalation_level: int
    message: str
