"""The exercise report: what happened, in hours after T0, built from the workflow's final view.

Everything here is derived from the incident's own audit trail (the ``IncidentView`` the workflow
returns) plus what the exercise sent; nothing is inferred from wall-clock time.
"""

from __future__ import annotations

from pydantic import BaseModel

from exercises.script import Script
from plans.model import Plan
from workflows.messages import DeadlineStatus, IncidentView, Outcome

OUTCOME_KINDS = {str(o) for o in Outcome}

# Which decision in the trail completes each plan step.
STEP_DONE_BY = {
    "verification": "verified",
    "consultation": "quorum_reached",
    "diplomacy": "dispatched",
    "authorization": "authorize",
    "activation": "activated",
}


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
    actual_hours: float | None  # when the step was done, if it was


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

    @property
    def passed(self) -> bool:
        return all(e.met for e in self.expectations)

    @property
    def rejected(self) -> list[InjectRecord]:
        return [i for i in self.injects if not i.accepted and not i.skipped]


def _first(decisions: list[DecisionRecord], kind: str) -> float | None:
    return next((d.at_hours for d in decisions if d.kind == kind), None)


def deadline_records(view: IncidentView, decisions: list[DecisionRecord]) -> list[DeadlineRecord]:
    records = []
    for deadline in view.deadlines:
        if deadline.name == "diplomacy":
            dispatched = [d.at_hours for d in decisions if d.kind == "dispatched"]
            actual = (
                max(dispatched) if dispatched and deadline.status is DeadlineStatus.MET else None
            )
        elif deadline.name == "consultation":
            # A quorum can be lost and rebuilt: what counts is when it last came to hold.
            reached = [d.at_hours for d in decisions if d.kind == "quorum_reached"]
            lost = [d.at_hours for d in decisions if d.kind == "quorum_lost"]
            actual = max(reached) if reached and (not lost or max(reached) >= max(lost)) else None
        else:
            actual = _first(decisions, STEP_DONE_BY.get(deadline.name, deadline.name))
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
                actual_hours=actual,
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
    injects: list[InjectRecord],
    notifications: list[NotificationRecord],
) -> ExerciseReport:
    decisions = [
        DecisionRecord(
            seq=d.seq, kind=d.kind, at_hours=d.t_plus_hours, actor=d.actor, rationale=d.rationale
        )
        for d in view.timeline
    ]
    first_kind = next(
        (str(d.payload.get("kind")) for d in view.timeline if d.kind == "reported"), view.kind
    )
    kinds_after = {d.seq: str(d.payload.get("to")) for d in view.timeline if d.kind == "reclassify"}
    closed_at = _first(decisions, view.outcome) if view.outcome is not None else None
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
        lead_hours=round(script.lead_hours, 4),
        window_hours=plan.activation_window_hours,
        outcome=None if view.outcome is None else str(view.outcome),
        activated_at_hours=closed_at if view.outcome is Outcome.ACTIVATED else None,
        closed_at_hours=closed_at,
        escalation_level=view.escalation_level,
        unmet_conditions=list(view.unmet_conditions),
        escalations=[
            EscalationRecord(
                level=e.level, authority=e.authority, at_hours=e.t_plus_hours, reason=e.reason
            )
            for e in view.escalations
        ],
        decisions=decisions,
        deadlines=deadline_records(view, decisions),
        phases=phase_spans(plan, first_kind, decisions, kinds_after, script.lead_hours),
        injects=injects,
        notifications=notifications,
    )


def phase_spans(
    plan: Plan,
    first_kind: str,
    decisions: list[DecisionRecord],
    kinds_after: dict[int, str],
    lead_hours: float,
) -> list[PhaseSpan]:
    """Replay the trail through the plan's phase rules (those of ``IncidentState.phase``)."""
    kind, verified, quorum, authorized, closed = first_kind, False, False, False, False

    def phase() -> str:
        policy = plan.kind(kind)
        if closed:
            return "closed"
        if not verified:
            return "verification"
        if policy.consultation and not quorum:
            return "consultation"
        if policy.military_response and not authorized:
            return "authorization"
        return "monitoring"

    spans: list[PhaseSpan] = []
    current, since = phase(), lead_hours
    for d in decisions:
        if d.kind in ("verified", "presumed"):
            verified = True
        elif d.kind == "quorum_reached":
            quorum = True
        elif d.kind == "quorum_lost":
            quorum = False
        elif d.kind == "authorize":
            authorized = True
        elif d.kind == "reclassify":
            kind = kinds_after.get(d.seq, kind)
        elif d.kind in OUTCOME_KINDS:
            closed = True
        now = phase()
        if now != current:
            spans.append(PhaseSpan(phase=current, start_hours=since, end_hours=d.at_hours))
            current, since = now, d.at_hours
    # A phase passed through within one instant (authorized and activated together) is no span.
    return [s for s in spans if s.end_hours > s.start_hours]
