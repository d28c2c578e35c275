"""Incidents: the list (read side), the live state (workflow query), the ledger, and the
evidence, commitments and decisions people submit."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Literal, get_type_hints

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from api.schemas.common import (
    FreeText,
    IncidentId,
    NoteText,
    NoticeId,
    OptionalRationale,
    PlanName,
    Rationale,
    RequestModel,
    Source,
)
from db.audit import Verdict
from workflows.messages import (
    Action,
    Answer,
    DeadlineStatus,
    DeploymentStatus,
    IncidentSnapshot,
    IncidentView,
    NoteKind,
    Outcome,
    Phase,
    ScheduleKind,
)


class _FromAttributes(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _fields_of(
    cls: type, *, only_own: type | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A dataclass's fields as pydantic field definitions (``only_own``: leave out the fields it
    inherits from that base), so the API's models state no field list of their own."""
    hints = get_type_hints(cls)
    inherited = {f.name for f in dataclasses.fields(only_own)} if only_own else set()
    definitions: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in inherited:
            continue
        default = ... if field.default is dataclasses.MISSING else field.default
        definitions[field.name] = (
            hints[field.name],
            Field(default, description=DOCS.get(field.name)),
        )
    definitions.update(overrides or {})
    return definitions


DOCS = {
    "t0": "T0, the violation's observed time: every deadline runs from it",
    "schedule": "What falls due next, in order; the next deadline is its first entry still ahead",
    "run_id": "The workflow run that last wrote the read side",
    "unmet_conditions": "The plan's steps activation still needs (at the close: those it lacked)",
    "persisted_seq": "Decisions up to this seq are in the ledger",
    "ledger_problem": "Set while the database refuses the incident's ledger writes (LEDGER "
    "BLOCKED): why. Deadlines still fall due; new input is refused with 409 until it clears",
}


class _Due(_FromAttributes):
    name: str
    title: str
    due_at: datetime
    due_hours: float = Field(description="Plan hours after T0")
    seconds_left: float | None = Field(
        default=None, description="Seconds until due (negative if overdue); pending ones only"
    )


class NextDeadline(_Due):
    kind: ScheduleKind = Field(description="deadline | escalation | window")


class DeadlineOut(_Due):
    status: DeadlineStatus = Field(description="The verdict, judged at the due instant")
    met_at: datetime | None = Field(
        default=None, description="When the step's condition last came to hold, late included"
    )
    met_hours: float | None = Field(default=None, description="met_at, in plan hours after T0")


class TimelineEntry(_FromAttributes):
    seq: int
    kind: str
    at: datetime
    t_plus_hours: float
    actor: str
    rationale: str
    payload: dict[str, Any]
    detail: str = Field(default="", description="What was decided, in words (from the payload)")


# The incident's header: the state machine's snapshot, field for field.
IncidentHeader = create_model(
    "IncidentHeader", __base__=_FromAttributes, **_fields_of(IncidentSnapshot)
)


class IncidentSummary(IncidentHeader):  # type: ignore[misc, valid-type]
    """An incident as the read side knows it (up to its latest ledger batch)."""

    workflow_id: str
    next_deadline: NextDeadline | None = Field(
        description="The first entry of the schedule still ahead; null once closed"
    )


class IncidentList(BaseModel):
    incidents: list[IncidentSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(
        description="Pass as offset for the next page; null on the last page"
    )


_IncidentState = create_model(
    "IncidentState",
    __base__=IncidentHeader,
    **_fields_of(
        IncidentView,
        only_own=IncidentSnapshot,
        overrides={"deadlines": (list[DeadlineOut], ...), "timeline": (list[TimelineEntry], ...)},
    ),
)


class IncidentDetail(_IncidentState):  # type: ignore[misc, valid-type]
    """The live state of an incident, as its workflow holds it."""

    workflow_id: str
    status: Literal["running", "completed"]
    as_of: datetime
    next_deadline: NextDeadline | None = Field(
        description="The first entry of the schedule still ahead; null once closed"
    )


class RelatedIncident(BaseModel):
    incident_id: str
    sector: str
    kind: str
    reported_by: str
    t0: datetime
    t0_apart_hours: float = Field(description="Hours between the two T0 (positive: later)")
    phase: Phase
    plan_version: int
    same_plan_version: bool = Field(
        description="Whether the two follow the same plan version (a merge needs it)"
    )


class RelatedIncidents(BaseModel):
    """Open incidents of the same plan whose T0 lies within the plan's window of this one's:
    suggestions, nearest first. The engine imposes no relation; only a person merges."""

    incident_id: str
    plan_id: str
    within_hours: float | None = Field(
        description="The plan's window (reports.related_within_hours); null: it suggests none"
    )
    related: list[RelatedIncident]


class LedgerRow(_FromAttributes):
    seq: int
    kind: str
    actor: str
    rationale: str
    payload: dict[str, Any]
    detail: str = Field(default="", description="What was decided, in words (from the payload)")
    occurred_at: datetime
    t_plus_hours: float
    recorded_at: datetime
    prev_hash: str
    hash: str
    text: str | None = Field(
        default=None,
        description="The whole text when the rationale holds only its first characters "
        "(payload.text gives its digest and length)",
    )


class LedgerVerdict(BaseModel):
    """The audit's verdict on a ledger (``db.audit``): the same wherever a verdict is shown."""

    verdict: Verdict = Field(
        description="intact, broken, unanchored, beyond_retention, vanished, terminated, forked "
        "or unchecked (docs/api.md)"
    )
    summary: str = Field(description="The verdict in one line")
    rows: int = Field(description="Ledger rows of the incident")
    intact: bool = Field(description="The chain holds and matches the workflow's decisions")
    broken_at_seq: int | None = Field(default=None, description="The first row found broken")
    problem: str | None = Field(default=None, description="Altered, removed or inserted, and how")
    checked_against_workflow: bool = Field(
        description="Rows also compared with the decisions the workflow itself took"
    )
    cancelled_by: str | None = Field(
        default=None, description="Who cancelled the workflow from Temporal, from its history"
    )


class Ledger(BaseModel):
    incident_id: str
    workflow_id: str
    chain: LedgerVerdict = Field(description="The verdict on the whole ledger, not only this page")
    decisions: list[LedgerRow]
    next_after: int | None = Field(
        default=None, description="More rows follow: ask again with after=<this seq>"
    )


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
    rationale: OptionalRationale = ""


class DeploymentIn(RequestModel):
    party: PlanName | None = Field(
        default=None, description="Defaults to the party of the ally token"
    )
    status: DeploymentStatus = Field(description="deployed, or withdrawn")
    assets: list[PlanName] = Field(
        min_length=1, max_length=20, description="Assets the party committed to this response"
    )
    rationale: OptionalRationale = ""


class DecisionIn(RequestModel):
    action: Action
    rationale: Rationale
    new_kind: PlanName | None = Field(
        default=None, description="reclassify only: the kind it becomes"
    )
    into: IncidentId | None = Field(
        default=None,
        description="merge only: the open incident of the same plan that absorbs this one",
    )
    observed_at: AwareDatetime | None = Field(
        default=None, description="correct_t0 only: when the violation was observed (the new T0)"
    )


class DeliveryOut(_FromAttributes):
    """One message of a notice to one channel of one audience."""

    notice_id: str
    notice_kind: str
    audience: str
    channel: str = Field(description="The channel in Apprise's privacy form: never a secret")
    cleared: bool = Field(description="Whether the channel may see incident content")
    status: Literal["pending", "delivered", "undelivered"]
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class Deliveries(BaseModel):
    incident_id: str
    undelivered: int = Field(description="Messages given up on: refused, or out of attempts")
    deliveries: list[DeliveryOut]


class AcknowledgementIn(RequestModel):
    notice_id: NoticeId = Field(
        description="The escalation notice acknowledged (awaiting_ack[].notice_id), for its "
        "whole audience"
    )


class NoteIn(RequestModel):
    text: NoteText = Field(description="What the cell notes, or hands over to the next shift")
    kind: NoteKind = Field(
        default=NoteKind.NOTE, description="note, or handover for a shift handover"
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
