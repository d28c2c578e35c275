"""The plan's logic without a server: deadlines, quorum, sources, validation, the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plans.loader import get_plan
from workflows.clock import PlanClock, format_offset
from workflows.messages import (
    Action,
    Answer,
    Awaiting,
    CommitmentInput,
    DeadlineStatus,
    DecisionInput,
    EvidenceInput,
    IncidentInput,
    Outcome,
    Phase,
    Verification,
    ViolationReport,
)
from workflows.state import IncidentState, Rejected, quorum_holds

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def incident(kind: str = "large_scale_offensive", reported_hours_after_t0: float = 0, plan_id: str = "allied-72h",
             time_scale: float = 1.0) -> IncidentState:  # fmt: skip
    report = ViolationReport(
        report_id="r-1", kind=kind, sector="donetsk", reported_by="ua-gs", observed_at=T0,
        reported_at=at(reported_hours_after_t0),
    )  # fmt: skip
    state = IncidentState(
        IncidentInput(
            incident_id="donetsk-1", report=report, plan=get_plan(plan_id), time_scale=time_scale
        ),
        at(reported_hours_after_t0),
    )
    state.advance(at(reported_hours_after_t0))
    return state


def commit(state: IncidentState, party: str, *assets: str, hours: float = 1) -> None:
    state.add_commitment(
        CommitmentInput(party=party, answer=Answer.COMMIT, assets=assets), at(hours)
    )


def decide(state: IncidentState, action: Action, hours: float, **kw) -> None:
    state.decide(DecisionInput(action=action, actor="op", rationale="because", **kw), at(hours))


def test_clock_anchors_to_t0_and_compresses():
    clock = PlanClock(T0, time_scale=3600)
    assert clock.at(72) == T0 + timedelta(seconds=72)
    assert clock.hours_since_t0(T0 + timedelta(seconds=30)) == 30
    assert (
        format_offset(12) == "T0+12h"
        and format_offset(0.5) == "T0+30m"
        and format_offset(1.25) == "T0+1h15m"
    )
    with pytest.raises(ValueError):
        PlanClock(T0, time_scale=0)


def test_quorum_needs_three_committed_and_air():
    plan = get_plan()
    state = incident()
    commit(state, "uk", "naval")
    commit(state, "pl", "ground")
    commit(state, "de", "ground")
    assert not quorum_holds(plan, state.commitments)
    assert state.view().quorum.missing_assets == ("air",)
    commit(state, "us", "air")
    assert quorum_holds(plan, state.commitments)
    state.add_commitment(CommitmentInput(party="us", answer=Answer.DECLINE), at(2))
    assert not state.quorum and state.view().quorum.declined == ("us",)


def test_deadlines_are_absolute_and_late_reports_fire_what_is_past():
    state = incident(reported_hours_after_t0=30)
    view = state.view()
    assert {d.name: d.due_at for d in view.deadlines}["activation"] == at(72)
    assert view.verification is Verification.PRESUMED
    assert [(e.level, e.t_plus_hours) for e in view.escalations] == [(2, 30), (2, 30)]
    assert view.next_deadline.name == "diplomacy"
    assert state.next_event_at() == at(48)
    assert state.next_event_label() == (
        "Diplomatic steps dispatched deadline T0+48h; Escalation check (quorum) T0+48h; "
        "Escalation check (dispatched) T0+48h"
    )


def test_validators_reject_without_changing_state():
    state = incident()
    before = len(state.decisions)
    cases = [
        (CommitmentInput(party="ru", answer=Answer.COMMIT, assets=("air",)), "party: 'ru' is not a guarantor"),
        (CommitmentInput(party="uk", answer=Answer.COMMIT, assets=("space",)), "assets: unknown ['space']"),
        (CommitmentInput(party="uk", answer=Answer.COMMIT), "assets: a commitment must offer at least one asset"),
        (CommitmentInput(party="uk", answer=Answer.DECLINE, assets=("air",)), "assets: a decline offers no assets"),
        (CommitmentInput(party="uk", answer=Answer.COMMIT, assets=("air", "air")), "assets: each asset may be offered once"),
    ]  # fmt: skip
    for commitment, message in cases:
        with pytest.raises(Rejected, match=message.replace("[", r"\[").replace("]", r"\]")):
            state.check_commitment(commitment)
    decisions = [
        (DecisionInput(action=Action.AUTHORIZE, actor="op", rationale="go"), "authorization needs the allied quorum first"),
        (DecisionInput(action=Action.RECLASSIFY, actor="op", rationale="x", new_kind="large_scale_offensive"), "already a large_scale_offensive"),
        (DecisionInput(action=Action.RECLASSIFY, actor="op", rationale="x", new_kind="skirmish"), "new_kind: 'skirmish' is not a kind"),
        (DecisionInput(action=Action.RECLASSIFY, actor="op", rationale="x"), "new_kind: a reclassify decision must name"),
        (DecisionInput(action=Action.CONFIRM, actor="", rationale="x"), "actor: an operator decision must name"),
        (DecisionInput(action=Action.CONFIRM, actor="op", rationale="x", new_kind="ceasefire_breach"), "new_kind: only a reclassify"),
    ]  # fmt: skip
    for decision, message in decisions:
        with pytest.raises(Rejected, match=message):
            state.check_decision(decision)
    with pytest.raises(Rejected, match="source: must name"):
        state.check_evidence(EvidenceInput(source=" "))
    assert len(state.decisions) == before


def test_authorize_is_only_for_a_military_response():
    state = incident(kind="limited_incursion")
    for party in ("us", "uk", "fr"):
        commit(state, party, "air")
    with pytest.raises(Rejected, match="a limited_incursion calls for no military authorization"):
        state.check_decision(DecisionInput(action=Action.AUTHORIZE, actor="op", rationale="go"))


def test_activation_the_moment_all_conditions_hold():
    state = incident()
    for party in ("us", "uk", "fr"):
        commit(state, party, "air", hours=3)
    decide(state, Action.AUTHORIZE, 4)
    assert state.outcome is None and state.phase() is Phase.VERIFICATION  # not yet verified
    state.add_evidence(EvidenceInput(source="allied-isr"), at(5))
    state.advance(at(5))
    assert state.outcome is Outcome.ACTIVATED and state.closed_at == at(5)
    with pytest.raises(Rejected, match="has ended"):
        state.check_evidence(EvidenceInput(source="more"))


def test_preview_leaves_the_state_untouched():
    state = incident(kind="ceasefire_breach")
    probe = state.preview(at(13))
    assert probe.outcome is Outcome.UNVERIFIED_CLOSED
    assert state.outcome is None and state.awaiting() is Awaiting.EVIDENCE
    with pytest.raises(Rejected, match="has ended"):
        probe.check_decision(DecisionInput(action=Action.CONFIRM, actor="op", rationale="late"))


def test_a_rule_that_did_not_apply_fires_when_a_reclassification_makes_it_apply():
    state = incident(kind="ceasefire_breach")
    state.add_evidence(EvidenceInput(source="osce"), at(1))
    assert state.dispatch_queue == ["demarche"]
    state.dispatch_succeeded("demarche", at(1), "log")
    state.advance(at(61))
    assert state.escalations == []
    decide(state, Action.RECLASSIFY, 61, new_kind="large_scale_offensive")
    state.advance(at(61))
    assert state.dispatch_queue == ["demarche", "unsc_session", "sanctions_snapback"]
    assert [(e.level, e.reason) for e in state.escalations] == [
        (2, "Allied quorum not reached by T0+24h"),
        (3, "Allied quorum still not reached by T0+48h"),
        (3, "Military response not authorized by T0+60h"),
    ]
    statuses = {d.name: d.status for d in state.view().deadlines}
    assert (
        statuses["consultation"] is DeadlineStatus.MISSED
        and statuses["authorization"] is DeadlineStatus.MISSED
    )
    assert statuses["activation"] is DeadlineStatus.PENDING


def test_compressed_clock_reports_plan_hours():
    state = incident(time_scale=3600)
    state.advance(T0 + timedelta(seconds=12))
    assert state.verification is Verification.PRESUMED
    assert state.decisions[-1].t_plus_hours == 12


def test_a_second_plan_needs_no_code():
    state = incident(kind="armed_incursion", plan_id="regional-48h")
    state.add_evidence(EvidenceInput(source="ee-border-guard"), at(1))
    assert state.verification is Verification.PENDING  # this plan wants three sources
    state.add_evidence(EvidenceInput(source="lv-radar"), at(2))
    assert state.verification is Verification.VERIFIED
    commit(state, "ee", "cyber", hours=3)
    commit(state, "fi", "air", hours=3)
    decide(state, Action.AUTHORIZE, 4)
    state.advance(at(4))
    assert state.outcome is Outcome.ACTIVATED
    assert state.view().window_closes_at == at(48)


@pytest.mark.parametrize("patched", [True, False])
def test_independent_evidence_verifies_a_presumption(patched):
    state = incident()
    state.evidence_verifies_presumption = patched  # the workflow sets it from workflow.patched()
    state.advance(at(13))
    assert state.verification is Verification.PRESUMED
    state.add_evidence(EvidenceInput(source="allied-isr"), at(14))
    expected = Verification.VERIFIED if patched else Verification.PRESUMED
    assert state.verification is expected
    assert ("verified" in [d.kind for d in state.decisions]) is patched
