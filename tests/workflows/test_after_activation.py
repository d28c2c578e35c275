"""After activation, without a server: the response stays open in phase active, takes
deployments and withdrawals, falls due for reviews, and ends by an operator's terminate or the
plan's limit (the plan's after_activation section)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from plans.loader import get_plan
from tests.workflows.test_state import at, commit, decide, incident
from workflows.decisions import DecisionKind, closes_incident
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    DeploymentInput,
    DeploymentStatus,
    EvidenceInput,
    Outcome,
    Phase,
    ScheduleKind,
)
from workflows.notices import NoticeKind
from workflows.state import IncidentState, Rejected

WEEK = 168


def activated(plan_id: str = "allied-72h") -> IncidentState:
    """Activated at T0+5h with us (air), uk (air) and fr (air, naval) committed."""
    state = incident(plan_id=plan_id)
    commit(state, "us", "air", hours=3)
    commit(state, "uk", "air", hours=3)
    commit(state, "fr", "air", "naval", hours=3)
    decide(state, Action.AUTHORIZE, 4)
    state.add_evidence(EvidenceInput(source="allied-isr"), at(5))
    state.advance(at(5))
    assert state.outcome is Outcome.ACTIVATED and state.phase() is Phase.ACTIVE
    return state


def report(state: IncidentState, party: str, status: DeploymentStatus, *assets: str, hours: float):
    state.report_deployment(
        DeploymentInput(party=party, status=status, assets=assets, actor=f"ally:{party}"),
        at(hours),
    )


def kinds_since(state: IncidentState, seq: int) -> list[str]:
    return [d.kind for d in state.decisions if d.seq > seq]


def test_activation_keeps_the_response_open_with_its_orders_sent_and_a_review_due():
    state = activated()
    assert state.activated_at == at(5) and state.closed_at is None and state.is_open
    activation = next(d for d in state.decisions if d.kind == DecisionKind.ACTIVATED)
    assert activation.payload["stays_active"] is True
    assert not closes_incident(activation.kind, activation.payload)
    assert [n.notice_kind for n in state.take_notices()][-1] is NoticeKind.ACTIVATION_ORDER
    review, limit = state.schedule()
    assert (review.kind, review.due_at) == (ScheduleKind.REVIEW, at(5 + WEEK))
    assert (limit.kind, limit.due_at) == (ScheduleKind.LIMIT, at(5 + 90 * 24))
    assert state.next_event_at() == at(5 + WEEK)
    view = state.view(at(6))
    assert view.phase is Phase.ACTIVE and view.outcome is Outcome.ACTIVATED
    assert view.activated_at == at(5) and view.closed_at is None
    assert view.next_review_at == at(5 + WEEK) and view.force_holds is True
    assert [(d.party, d.committed) for d in view.deployments] == [
        ("fr", ("air", "naval")),
        ("uk", ("air",)),
        ("us", ("air",)),
    ]


def test_a_withdrawal_that_breaks_the_quorum_escalates_and_calls_for_replacements():
    state = activated()
    state.take_notices()
    report(state, "us", DeploymentStatus.DEPLOYED, "air", hours=10)
    report(state, "fr", DeploymentStatus.WITHDRAWN, "naval", hours=20)
    assert state.force_holds  # fr still has its air: three parties with air
    seq = state.seq
    report(state, "uk", DeploymentStatus.WITHDRAWN, "air", hours=30)
    state.advance(at(30))
    assert kinds_since(state, seq) == ["withdrawn", "quorum_lost", "escalated"]
    withdrawn, lost, escalated = state.decisions[-3:]
    assert withdrawn.payload["force_holds"] is False and withdrawn.payload["remaining"] == []
    assert lost.payload["short"] == 1
    assert escalated.payload["cause"] == "withdrawal" and escalated.payload["level"] == 3
    assert state.escalation_level == 3 and not state.force_holds
    notices = state.take_notices()
    call = next(n for n in notices if n.notice_kind is NoticeKind.CALL_FOR_REPLACEMENT)
    asked = {a.audience for a in call.addressees}
    assert "cell" in asked and not asked & {"party:us", "party:uk", "party:fr"}
    assert "party:de" in asked and call.needs_answer
    assert NoticeKind.ESCALATION in {n.notice_kind for n in notices}
    # A committed party does not answer anew; a party not committed can replace the withdrawal.
    with pytest.raises(Rejected, match="is committed to the active response") as refused:
        state.check_commitment(CommitmentInput(party="uk", answer=Answer.COMMIT, assets=("air",)))
    assert refused.value.field == "party"
    seq = state.seq
    commit(state, "de", "air", hours=40)
    state.advance(at(40))
    assert kinds_since(state, seq) == ["commitment", "quorum_reached"]
    assert state.force_holds
    (order,) = [n for n in state.take_notices() if n.notice_kind is NoticeKind.ACTIVATION_ORDER]
    assert [(a.audience, a.assets) for a in order.addressees] == [("party:de", ("air",))]


def test_deployment_reports_are_checked_naming_the_field():
    state = incident()
    with pytest.raises(Rejected, match="after activation") as refused:
        state.check_deployment(DeploymentInput("us", DeploymentStatus.DEPLOYED, ("air",)))
    assert refused.value.field == "status" and refused.value.conflict
    state = activated()
    bad = {
        "party": DeploymentInput("de", DeploymentStatus.DEPLOYED, ("air",)),  # not committed
        "assets": DeploymentInput("us", DeploymentStatus.DEPLOYED, ("naval",)),  # not its own
    }
    for field, input in bad.items():
        with pytest.raises(Rejected) as refused:
            state.check_deployment(input)
        assert refused.value.field == field
    report(state, "fr", DeploymentStatus.WITHDRAWN, "naval", hours=6)
    with pytest.raises(Rejected, match="already withdrawn") as refused:
        state.check_deployment(DeploymentInput("fr", DeploymentStatus.WITHDRAWN, ("naval",)))
    assert refused.value.field == "assets"
    with pytest.raises(Rejected) as refused:
        state.check_deployment(DeploymentInput("fr", DeploymentStatus.WITHDRAWN, ("air", "air")))
    assert refused.value.field == "assets"


def test_missed_reviews_escalate_and_at_the_top_level_page_again():
    state = activated()
    state.take_notices()
    state.advance(at(5 + WEEK))
    assert kinds_since(state, 0)[-2:] == ["lapsed", "escalated"]
    assert state.decisions[-2].payload["deadline"] == "review"
    assert state.escalation_level == 2 and state.reviews_missed == 1
    assert state.view(at(5 + WEEK)).awaiting.value == "operator"
    state.advance(at(5 + 2 * WEEK))
    assert state.escalation_level == 3 and state.reviews_missed == 2
    first = [n for n in state.take_notices() if n.notice_kind is NoticeKind.ESCALATION]
    assert first, "the second missed review pages level 3"
    seq = state.seq
    state.advance(at(5 + 3 * WEEK))  # already at the top: the notice goes out again
    assert kinds_since(state, seq)[:2] == ["lapsed", "escalated"]
    again = [n for n in state.take_notices() if n.notice_kind is NoticeKind.ESCALATION]
    assert again and again[-1].notice_id not in {n.notice_id for n in first}
    # A review held resets the count and sets the next one a week on.
    decide(state, Action.REVIEW, 5 + 3 * WEEK + 1)
    assert state.reviews_missed == 0 and state.review_due_at == at(5 + 4 * WEEK + 1)
    review = state.decisions[-1]
    assert review.kind == DecisionKind.REVIEW and review.payload["review"] == 4


def test_terminate_closes_the_response_its_outcome_stays_activated():
    state = activated()
    decide(state, Action.TERMINATE, 200)
    state.advance(at(200))
    assert state.outcome is Outcome.ACTIVATED and state.closed_at == at(200)
    assert state.phase() is Phase.CLOSED and not state.is_open
    assert state.termination_rationale == "Terminated by op: because"
    ended = state.decisions[-1]
    assert ended.kind == DecisionKind.TERMINATED and closes_incident(ended.kind, ended.payload)
    assert ended.payload["by"] == "terminate" and ended.payload["active_hours"] == 195
    assert state.take_notices()[-1].notice_kind is NoticeKind.CLOSE
    assert state.next_event_at() is None
    with pytest.raises(Rejected, match="has ended"):
        state.check_decision(DecisionInput(Action.REVIEW, "op", "late"))


def test_stand_down_after_activation_terminates():
    state = activated()
    decide(state, Action.STAND_DOWN, 50)
    assert state.outcome is Outcome.ACTIVATED and state.closed_at == at(50)
    assert state.decisions[-1].payload["by"] == "stand_down"


def test_the_plan_limit_ends_a_response_nobody_terminates():
    state = activated()
    state.advance(at(5 + 90 * 24))
    assert state.closed_at == at(5 + 90 * 24) and state.decisions[-1].payload["by"] == "limit"
    assert state.reviews_missed == 12  # every weekly review before the limit, none at it


def test_decisions_that_do_not_fit_the_phase_are_refused_naming_action():
    deciding = incident()
    for action in (Action.TERMINATE, Action.REVIEW):
        with pytest.raises(Rejected, match="applies to an active response") as refused:
            deciding.check_decision(DecisionInput(action, "op", "why"))
        assert refused.value.field == "action"
    state = activated()
    for action in (Action.CONFIRM, Action.AUTHORIZE, Action.RECLASSIFY):
        with pytest.raises(Rejected, match="the response is active") as refused:
            kind = "ceasefire_breach" if action is Action.RECLASSIFY else None
            state.check_decision(DecisionInput(action, "op", "why", new_kind=kind))
        assert refused.value.field == "action"


def test_a_second_plan_sets_other_intervals_with_no_code_change():
    plan = get_plan("regional-48h")
    assert plan.after_activation is not None
    assert (plan.after_activation.review_every_hours, plan.after_activation.max_days) == (72, 30)
    allied = get_plan("allied-72h").after_activation
    assert allied is not None and (allied.review_every_hours, allied.max_days) == (168, 90)


def test_a_plan_without_the_section_closes_at_activation():
    state = incident()
    state.plan = replace(state.plan, after_activation=None)
    commit(state, "us", "air", hours=3)
    commit(state, "uk", "air", hours=3)
    commit(state, "fr", "air", hours=3)
    decide(state, Action.AUTHORIZE, 4)
    state.add_evidence(EvidenceInput(source="allied-isr"), at(5))
    state.advance(at(5))
    assert state.phase() is Phase.CLOSED and state.closed_at == at(5)
    assert state.activated_at == at(5)
