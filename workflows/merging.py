"""Folding one open incident into another, and moving an incident's T0.

An operator decides ``merge`` on the incident to be absorbed, naming the one that absorbs it.
The absorbed incident records the decision and hands its content over through an activity (an
update of the absorbing incident, with an id derived from the merge, so a retry cannot absorb
twice); it closes with the outcome ``merged`` once the absorbing incident took it, or records
``merge_refused`` and carries on if that incident refused. The absorbing incident takes the
reports, sectors, sources, answers and the steps already sent, and its T0 becomes the earliest
violation observed: through the same machinery as a joining report, so pending deadlines
re-anchor and those already past fall due at once, judged knowing what the merge brings.

``correct_t0`` moves T0 the same way, earlier or later, on an operator's word; and a report
dated further back than the plan lets a report date itself has its T0 held at that bound until
an operator confirms it.

These are rules of :class:`workflows.state.IncidentState`, kept here so that module stays
about one incident's plan; they read and change its state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from foundation.ids import is_exercise_id
from workflows import limits
from workflows.checks import Rejected, check_carried, check_text
from workflows.clock import PlanClock
from workflows.decisions import (
    AbsorbedPayload,
    CorrectT0Payload,
    DecisionKind,
    MergedPayload,
    MergePayload,
    MergeRefusedPayload,
    T0HeldPayload,
)
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    EvidenceInput,
    MergedReport,
    MergeHandover,
    MergeResult,
    Outcome,
    RefusalReason,
    Verification,
)
from workflows.text import ACTOR, RATIONALE, REPORT_ID

if TYPE_CHECKING:
    from workflows.state import IncidentState

# How far back an operator may move T0: the intake's bound on a report's observed time.
T0_AT_MOST_BEFORE = timedelta(days=366)


def _while_deciding(state: IncidentState, what: str) -> None:
    if not state.deciding:
        raise Rejected(
            f"action: {what} while the plan's steps run; this incident is in phase {state.phase()}",
            field="action",
            conflict=True,
        )


# -- T0 held at the plan's bound ------------------------------------------------------------


def held_t0(state: IncidentState, observed: datetime, reported_at: datetime) -> datetime | None:
    """Where T0 is held for a violation observed at ``observed`` and reported at
    ``reported_at``, if the report dates it further back than the plan allows on its own."""
    reports = state.plan.reports
    if not state.rules.merging or reports is None:
        return None
    bound = reports.confirm_observed_beyond_hours
    if bound is None:
        return None
    earliest = reported_at - timedelta(hours=bound)
    return earliest if observed < earliest else None


def record_held(state: IncidentState, observed: datetime, held: datetime, now: datetime) -> None:
    reports = state.plan.reports
    assert reports is not None and reports.confirm_observed_beyond_hours is not None
    bound = reports.confirm_observed_beyond_hours
    state._record(
        DecisionKind.T0_HELD,
        now,
        "system",
        f"The report dates the violation more than {bound:g} h before it reached the cell: T0 "
        "is held there until an operator confirms the earlier time (correct_t0)",
        T0HeldPayload(observed_at=observed.isoformat(), t0=held.isoformat(), bound_hours=bound),
    )


# -- correct_t0 ---------------------------------------------------------------------------------


def check_correct_t0(state: IncidentState, decision: DecisionInput, now: datetime | None) -> None:
    observed = decision.observed_at
    if observed is None:
        raise Rejected(
            "observed_at: a correct_t0 decision names the violation's corrected time",
            field="observed_at",
        )
    if observed.tzinfo is None:
        raise Rejected("observed_at: give a time zone (UTC)", field="observed_at")
    _while_deciding(state, "T0 is corrected")
    if observed == state.clock.t0:
        raise Rejected(
            f"observed_at: T0 is already {observed.isoformat()}", field="observed_at", conflict=True
        )
    if now is not None:
        if observed > now:
            raise Rejected("observed_at: T0 cannot lie in the future", field="observed_at")
        if observed < now - T0_AT_MOST_BEFORE:
            raise Rejected("observed_at: more than a year ago", field="observed_at")


def correct_t0(state: IncidentState, decision: DecisionInput, now: datetime) -> None:
    """T0 moves to the operator's time: verdicts given stand, pending deadlines re-anchor, and
    those now past fall due at once (``receive`` fires them after this change)."""
    assert decision.observed_at is not None
    before = state.clock.t0
    state.clock = PlanClock(t0=decision.observed_at, time_scale=state.clock.time_scale)
    state._record(
        DecisionKind.CORRECT_T0,
        now,
        decision.actor,
        decision.rationale,
        CorrectT0Payload(
            action=str(Action.CORRECT_T0), t0_from=before.isoformat(), t0=state.clock.t0.isoformat()
        ),
        text=decision.rationale_ref,
    )


# -- the absorbed incident ---------------------------------------------------------------------


def check_merge(state: IncidentState, decision: DecisionInput) -> None:
    into = decision.into
    if not state.rules.merging:
        raise Rejected(
            "action: this incident started before incidents could be merged",
            field="action",
            conflict=True,
        )
    if into is None or not into.strip():
        raise Rejected("into: a merge names the incident that absorbs this one", field="into")
    check_text(into, REPORT_ID, "into")
    own = state.input.incident_id
    if into == own:
        raise Rejected("into: an incident cannot absorb itself", field="into")
    if is_exercise_id(into) != is_exercise_id(own):
        raise Rejected("into: an exercise incident and a real one are never merged", field="into")
    _while_deciding(state, "an incident is merged")


def begin_merge(state: IncidentState, decision: DecisionInput, now: datetime) -> None:
    """The decision is recorded; the workflow hands the content over (``state.handover``)."""
    assert decision.into is not None
    state._record(
        DecisionKind.MERGE,
        now,
        decision.actor,
        decision.rationale,
        MergePayload(action=str(Action.MERGE), into=decision.into),
        text=decision.rationale_ref,
    )
    state.handover = MergeHandover(
        incident_id=state.input.incident_id,
        into=decision.into,
        actor=decision.actor,
        rationale=decision.rationale,
        rationale_ref=decision.rationale_ref,
        plan_id=state.plan.id,
        plan_version=state.plan.version,
        t0=state.clock.t0,
        reports=tuple(reports_of(state)),
        sources=tuple(state.sources),
        verified=state.verification is Verification.VERIFIED,
        commitments=tuple(state.commitment_views()),
        steps_sent=tuple(state.dispatch_started),
        exercise=state.input.exercise,
        seq=state.seq,
    )


def reports_of(state: IncidentState) -> list[MergedReport]:
    """Every report this incident holds, its own and those merged into it."""
    own = state.input.report
    first = MergedReport(
        report_id=own.report_id,
        sector=own.sector,
        reported_by=own.reported_by,
        observed_at=own.observed_at or state.reported_at,
    )
    return [first, *state.other_reports]


def merge_done(state: IncidentState, result: MergeResult, now: datetime) -> None:
    handover = state.handover
    assert handover is not None
    state.handover = None
    state.merged_into = result.into
    if not state.is_open:
        return  # closed by its own deadline meanwhile; the absorbing incident has its content
    state._close(
        Outcome.MERGED,
        now,
        f"Merged into incident {result.into}, which carries the response on: "
        f"{', '.join(result.sectors)}",
        MergedPayload(outcome=str(Outcome.MERGED), into=result.into, into_seq=result.seq),
        actor=handover.actor,
    )


def merge_refused(
    state: IncidentState, reason: RefusalReason | str, message: str, now: datetime
) -> None:
    handover = state.handover
    assert handover is not None
    state.handover = None
    state._record(
        DecisionKind.MERGE_REFUSED,
        now,
        "system",
        message[: limits.TEXT_IN_WORKFLOW],
        MergeRefusedPayload(into=handover.into, reason=str(reason)),
    )


# -- the absorbing incident --------------------------------------------------------------------


def check_absorb(state: IncidentState, handover: MergeHandover) -> None:
    if not state.rules.merging:
        raise Rejected(
            f"into: incident {state.input.incident_id} started before incidents could be "
            "merged; it cannot absorb another",
            field="into",
            conflict=True,
        )
    state.check_open()
    own = state.input.incident_id
    if handover.into != own or handover.incident_id == own:
        raise Rejected(f"into: this handover is not for incident {own}", field="into")
    check_text(handover.actor, ACTOR)
    check_text(handover.rationale, RATIONALE)
    check_carried("rationale", handover.rationale, handover.rationale_ref)
    if handover.incident_id in state.merged_from:
        return  # absorbed already: taking it again changes nothing
    plan = state.plan
    if (handover.plan_id, handover.plan_version) != (plan.id, plan.version):
        raise Rejected(
            f"into: incident {own} follows plan {plan.id} v{plan.version}, incident "
            f"{handover.incident_id} plan {handover.plan_id} v{handover.plan_version}; only "
            "incidents of one plan and version are merged",
            field="into",
            conflict=True,
        )
    if handover.exercise != state.input.exercise:
        raise Rejected("into: an exercise incident and a real one are never merged", field="into")
    new = [r for r in handover.reports if r.report_id not in state.report_ids]
    if len(state.report_ids) + len(new) > limits.MAX_REPORTS:
        raise Rejected(
            f"into: the response would hold more than {limits.MAX_REPORTS} reports",
            field="into",
            conflict=True,
        )


def absorb(state: IncidentState, handover: MergeHandover, now: datetime) -> None:
    """The absorbed incident's content joins this response (see the module's docstring)."""
    check_absorb(state, handover)
    if handover.incident_id in state.merged_from:
        return
    state.merged_from.append(handover.incident_id)
    for report in handover.reports:
        if report.report_id in state.report_ids:
            continue
        state.report_ids.append(report.report_id)
        state.other_reports.append(report)
        if report.sector not in state.sectors:
            state.sectors.append(report.sector)
    sources_added = [s for s in handover.sources if s not in state.sources]
    taken = [c.party for c in handover.commitments if _later(state, c.party, c.at)]
    sent_there = [s for s in handover.steps_sent if s not in state.dispatch_started]
    for step in sent_there:
        # Sent (or under way) there: the response says it once.
        state.dispatch_started.append(step)
        if step in state.dispatch_queue:
            state.dispatch_queue.remove(step)
    payload = AbsorbedPayload(
        incident=handover.incident_id,
        reports=[r.report_id for r in handover.reports],
        sectors=list(state.sectors),
        t0=state.clock.t0.isoformat(),
        sources_added=sources_added,
        commitments_taken=taken,
        steps_sent=sent_there,
    )
    moved = state.deciding and handover.t0 < state.clock.t0
    if moved:
        payload["t0_moved_from"] = state.clock.t0.isoformat()
        payload["t0"] = handover.t0.isoformat()
        state.clock = PlanClock(t0=handover.t0, time_scale=state.clock.time_scale)
    state._record(
        DecisionKind.ABSORBED,
        now,
        handover.actor,
        handover.rationale,
        payload,
        text=handover.rationale_ref,
    )

    def its_content(target: IncidentState, at: datetime) -> None:
        _take_content(target, handover, at)

    if moved:
        state._fire(now, inclusive=False, incoming=its_content)
    if state.is_open:
        its_content(state, now)


def _later(state: IncidentState, party: str, at: datetime) -> bool:
    current = state.commitments.get(party)
    return current is None or at > current.at


def _take_content(state: IncidentState, handover: MergeHandover, now: datetime) -> None:
    """Sources as evidence, the verification, and for each party the later of its answers."""
    origin = f"incident {handover.incident_id}, merged into this one"
    for source in handover.sources:
        if not state.is_open or source in state.sources:
            continue
        if len(state.sources) >= limits.MAX_SOURCES:
            break
        state.add_evidence(EvidenceInput(source, f"A source of {origin}", handover.actor), now)
    if (
        handover.verified
        and state.deciding
        and state.verification in (Verification.PENDING, Verification.PRESUMED)
    ):
        state._verify(now, f"Verified in {origin}")
    for c in handover.commitments:
        if not state.is_open or not _later(state, c.party, c.at):
            continue
        answer = CommitmentInput(
            party=c.party,
            answer=c.answer,
            assets=tuple(c.assets) if c.answer is Answer.COMMIT else (),
            actor=c.actor,
            rationale=f"The answer given in {origin}",
        )
        try:
            state.add_commitment(answer, now)
        except Rejected:
            continue  # not valid here (an active response's committed party): its answer stands
