"""The exercise report: what happened, in hours after T0, built from the workflow's final view.

Everything here is derived from the incident's own audit trail (the ``IncidentView`` the workflow
returns) plus what the exercise sent; nothing is inferred from wall-clock time.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from exercises.script import Script
from plans.model import Plan
from workflows.clock import PlanClock
from workflows.decisions import detail
from workflows.messages import DeadlineStatus, Decision, IncidentView, Outcome, PhaseChange


class InjectRecord(BaseModel):
    index: int
    offset_hours: float  # after the exercise start
    at_hours: float  # after T0: when the workflow took it, or when it was sent if refused
    kind: str
    description: str
    accepted: bool
    skipped: bool = False
    message: str = ""
    seq: int | None = None


class DecisionRecord(BaseModel):
    seq: int
    kind: str
    at_hours: float
    actor: str
    rationale: str = ""
    payload: dict[str, Any] = {}
    detail: str = ""  # what was decided, in words


class EscalationRecord(BaseModel):
    level: int
    authority: str
    at_hours: float
    reason: str


class DeadlineRecord(BaseModel):
    name: str
    title: str
    due_hours: float
    status: str
    met: bool | None  # None: moot (closed before it fell due) or not applicable to the kind
    actual_hours: float | None  # when the step was done, if it was (late ones included)


class PhaseSpan(BaseModel):
    phase: str
    start_hours: float
    end_hours: float


class ExpectationResult(BaseModel):
    name: str
    expected: str
    actual: str
    met: bool


class NotificationRecord(BaseModel):
    step: str
    title: str
    channel: str
    exercise: bool


class ExerciseReport(BaseModel):
    scenario: str
    source: str
    plan_id: str
    plan_version: int
    mode: str  # time-skipping | live
    time_scale: float
    incident_id: str
    workflow_id: str
    kind: str  # the final kind (a reclassification changes it)
    exercise: bool
    t0: str
    lead_hours: float  # hours from T0 to the report (the exercise start)
    window_hours: float
    outcome: str | None
    activated_at_hours: float | None
    closed_at_hours: float | None
    escalation_level: int
    unmet_conditions: list[str]
    escalations: list[EscalationRecord]
    decisions: list[DecisionRecord]
    deadlines: list[DeadlineRecord]
    phases: list[PhaseSpan]
    injects: list[InjectRecord]
    notifications: list[NotificationRecord]
    expectations: list[ExpectationResult] = []
    wall_seconds: float = 0.0
    # Where the incident stood when the report was built: ``active`` for a response still open
    # after activation (the runner then ends it), else ``closed``.
    phase: str = "closed"
    # Every sector the response covered (reports of one offensive join one response).
    sectors: list[str] = []

    @property
    def passed(self) -> bool:
        return all(e.met for e in self.expectations)

    @property
    def rejected(self) -> list[InjectRecord]:
        return [i for i in self.injects if not i.accepted and not i.skipped]


def deadline_records(view: IncidentView) -> list[DeadlineRecord]:
    records = []
    for deadline in view.deadlines:
        met = {DeadlineStatus.MET: True, DeadlineStatus.MISSED: False}.get(deadline.status)
        if met is None and deadline.status is DeadlineStatus.PENDING:
            met = False
        records.append(
            DeadlineRecord(
                name=deadline.name,
                title=deadline.title,
                due_hours=deadline.due_hours,
                status=str(deadline.status),
                met=met,
                actual_hours=deadline.met_hours,
            )
        )
    return records


def build_report(
    *,
    scenario_name: str,
    source: str,
    plan: Plan,
    mode: str,
    workflow_id: str,
    script: Script,
    view: IncidentView,
    timeline: Sequence[Decision],
    injects: list[InjectRecord],
    notifications: list[NotificationRecord],
) -> ExerciseReport:
    """``timeline`` is the ledger's: the workflow's view holds only the latest decisions.

    Every time is in hours after the response's final T0: a report observed earlier that joined
    the response moved T0 (the ledger's t_plus_hours are after the T0 of their moment)."""
    clock = PlanClock(view.t0, view.time_scale)
    decisions = [
        DecisionRecord(
            seq=d.seq,
            kind=d.kind,
            at_hours=clock.hours_since_t0(d.at),
            actor=d.actor,
            rationale=d.rationale,
            payload=d.payload,
            detail=detail(d.kind, d.payload),
        )
        for d in timeline
    ]
    at_by_seq = {d.seq: d.at_hours for d in decisions}
    lead = clock.hours_since_t0(view.reported_at)
    shift = lead - script.lead_hours  # 0 unless T0 moved

    def placed(i: InjectRecord) -> InjectRecord:
        at = (
            at_by_seq[i.seq]
            if i.seq is not None and i.seq in at_by_seq
            else round(i.at_hours + shift, 4)
        )
        return i if at == i.at_hours else i.model_copy(update={"at_hours": at})

    injects = [placed(i) for i in injects]
    closed_at = None if view.closed_at is None else clock.hours_since_t0(view.closed_at)
    activated_at = None if view.activated_at is None else clock.hours_since_t0(view.activated_at)
    if view.outcome is Outcome.ACTIVATED and activated_at is None:
        activated_at = closed_at  # an engine before activated_at: activation closed it
    return ExerciseReport(
        scenario=scenario_name,
        source=source,
        plan_id=view.plan_id,
        plan_version=view.plan_version,
        mode=mode,
        time_scale=view.time_scale,
        incident_id=view.incident_id,
        workflow_id=workflow_id,
        kind=view.kind,
        exercise=view.exercise,
        t0=view.t0.isoformat(),
        lead_hours=round(lead, 4),
        window_hours=plan.activation_window_hours,
        outcome=None if view.outcome is None else str(view.outcome),
        activated_at_hours=activated_at if view.outcome is Outcome.ACTIVATED else None,
        closed_at_hours=closed_at,
        phase=str(view.phase),
        sectors=list(view.sectors or (view.sector,)),
        escalation_level=view.escalation_level,
        unmet_conditions=list(view.unmet_conditions),
        escalations=[
            EscalationRecord(
                level=e.level,
                authority=e.authority,
                at_hours=clock.hours_since_t0(e.at),
                reason=e.reason,
            )
            for e in view.escalations
        ],
        decisions=decisions,
        deadlines=deadline_records(view),
        phases=phase_spans(view, clock),
        injects=injects,
        notifications=notifications,
    )


def phase_spans(view: IncidentView, clock: PlanClock | None = None) -> list[PhaseSpan]:
    """The phases the incident went through, as the workflow recorded its changes (in hours
    after ``clock``'s T0 when given)."""
    changes = view.phases

    def hours(change: PhaseChange) -> float:
        return change.t_plus_hours if clock is None else clock.hours_since_t0(change.at)

    spans = [
        PhaseSpan(phase=str(a.phase), start_hours=hours(a), end_hours=hours(b))
        for a, b in itertools.pairwise(changes)
    ]
    # A phase passed through within one instant (authorized and activated together) is no span.
    return [s for s in spans if s.end_hours > s.start_hours]
