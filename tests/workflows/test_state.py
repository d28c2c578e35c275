"""The plan's logic without a server: deadlines, quorum, sources, validation, the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plans.loader import get_plan
from workflows.clock import PlanClock, format_offset
from workflows.messages import (
    AcknowledgeInput,
    Action,
    Answer,
    Awaiting,
    CommitmentInput,
    DeadlineStatus,
    DecisionInput,
    Evidence,
    EvidenceInput,
    IncidentInput,
    Outcome,
    Phase,
    Verification,
    ViolationReport,
)
from workflows.state import (
    CURRENT_RULES,
    LEGACY_RULES,
    IncidentState,
    Rejected,
    Rules,
    quorum_holds,
)

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def incident(kind: str = "large_scale_offensive", reported_hours_after_t0: float = 0, plan_id: str = "allied-72h",
             time_scale: float = 1.0, rules: Rules = CURRENT_RULES) -> IncidentState:  # fmt: skip
    report = ViolationReport(
        report_id="r-1", kind=kind, sector="donetsk", reported_by="ua-gs", observed_at=T0,
        reported_at=at(reported_hours_after_t0),
    )  # fmt: skip
    state = IncidentState(
        IncidentInput(
            incident_id="donetsk-1", report=report, plan=get_plan(plan_id), time_scale=time_scale
        ),
        at(reported_hours_after_t0),
        rules,
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
    assert view.schedule[0].name == "diplomacy" and view.schedule[0].due_at == at(48)
    # Before the next deadline, the level-2 notice nobody has acknowledged goes out again.
    assert state.next_event_at() == at(31)
    assert state.next_event_label() == "Level 2 notice unacknowledged: repeat T0+31h"
    awaited = view.awaiting_ack[0]
    state.acknowledge(AcknowledgeInput(awaited.notice_id, "operator:duty"), at(30.5))
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
    # The plan's after_activation section: activated at its time, and open in phase active.
    assert state.outcome is Outcome.ACTIVATED and state.activated_at == at(5)
    assert state.closed_at is None and state.phase() is Phase.ACTIVE
    with pytest.raises(Rejected, match="is committed to the active response"):
        state.check_commitment(CommitmentInput(party="us", answer=Answer.DECLINE))


def test_activation_closes_under_a_plan_without_life_after_activation():
    state = incident(rules=Rules(after_activation=False))
    for party in ("us", "uk", "fr"):
        commit(state, party, "air", hours=3)
    decide(state, Action.AUTHORIZE, 4)
    state.add_evidence(EvidenceInput(source="allied-isr"), at(5))
    state.advance(at(5))
    assert state.outcome is Outcome.ACTIVATED and state.closed_at == at(5)
    assert state.activated_at == at(5) and state.phase() is Phase.CLOSED
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
    # The workflow sets the rule from workflow.patched().
    state = incident(rules=Rules(evidence_verifies_presumption=patched))
    state.advance(at(13))
    assert state.verification is Verification.PRESUMED
    state.add_evidence(EvidenceInput(source="allied-isr"), at(14))
    expected = Verification.VERIFIED if patched else Verification.PRESUMED
    assert state.verification is expected
    assert ("verified" in [d.kind for d in state.decisions]) is patched


# -- the plan's table: verdicts at the due instant, inputs at it on time -----------------------


def late_report(
    kind: str, hours: float, *sources: str, rules: Rules = CURRENT_RULES
) -> IncidentState:
    """A report reaching the cell ``hours`` after T0, carrying evidence from ``sources``."""
    report = ViolationReport(
        report_id="r-late", kind=kind, sector="donetsk", reported_by="ua-gs", observed_at=T0,
        reported_at=at(hours), evidence=tuple(Evidence(source=s) for s in sources),
    )  # fmt: skip
    state = IncidentState(
        IncidentInput(incident_id="donetsk-late", report=report, plan=get_plan()), at(hours), rules
    )
    state.advance(at(hours))  # the workflow's first wake-up
    return state


def statuses(state: IncidentState) -> dict[str, DeadlineStatus]:
    return {d.name: d.status for d in state.deadline_views()}


def test_a_late_report_with_its_sources_misses_verification_and_is_verified_late():
    state = late_report("large_scale_offensive", 38, "allied-isr")
    assert statuses(state)["verification"] is DeadlineStatus.MISSED
    assert state.verification is Verification.VERIFIED  # late, not presumed
    kinds = [d.kind for d in state.decisions]
    assert "presumed" not in kinds
    assert kinds.index("lapsed") < kinds.index("verified")
    # The rule for the verification deadline (T0+12h unless verified) fires, at intake.
    assert next((e.level, e.reason) for e in state.escalations) == (
        2,
        "Not verified by T0+12h; proceeding on presumption",
    )
    # Before: the report's evidence was counted first, and the deadline showed as met.
    legacy = late_report("large_scale_offensive", 38, "allied-isr", rules=LEGACY_RULES)
    assert statuses(legacy)["verification"] is DeadlineStatus.MET
    assert all("T0+12h" not in e.reason for e in legacy.escalations)


def test_a_late_ceasefire_breach_is_verified_late_with_its_sources_and_closed_without_them():
    verified = late_report("ceasefire_breach", 38, "allied-isr")
    assert verified.is_open and verified.verification is Verification.VERIFIED
    assert statuses(verified)["verification"] is DeadlineStatus.MISSED
    assert verified.dispatch_queue == ["demarche"]
    closed = late_report("ceasefire_breach", 38)
    assert closed.outcome is Outcome.UNVERIFIED_CLOSED and closed.dispatch_queue == []


def test_input_at_the_due_instant_is_on_time():
    state = incident("ceasefire_breach")
    second_source = EvidenceInput(source="osce-smm", actor="osce")
    # The validator's view at T0+12h exactly: the deadline has not yet been judged.
    assert state.preview(at(12)).is_open
    state.receive(at(12), lambda s, now: s.add_evidence(second_source, now))
    assert state.is_open and statuses(state)["verification"] is DeadlineStatus.MET
    # Before, the deadline fired first and the evidence was refused: the incident had closed.
    legacy = incident("ceasefire_breach", rules=LEGACY_RULES)
    with pytest.raises(Rejected):
        legacy.receive(at(12), lambda s, now: s.add_evidence(second_source, now))
    assert legacy.outcome is Outcome.UNVERIFIED_CLOSED


def test_authorization_at_its_deadline_escalates_nobody():
    state = incident()
    state.receive(at(2), lambda s, now: s.add_evidence(EvidenceInput(source="isr"), now))
    for step in list(state.dispatch_queue):
        state.receive(at(3), lambda s, now, step=step: s.dispatch_succeeded(step, now, "log"))
    for party in ("uk", "us", "pl"):
        commitment = CommitmentInput(party=party, answer=Answer.COMMIT, assets=("air",))
        state.receive(at(20), lambda s, now, c=commitment: s.add_commitment(c, now))
    authorize = DecisionInput(action=Action.AUTHORIZE, actor="op", rationale="quorum")
    state.receive(at(60), lambda s, now: s.decide(authorize, now))
    assert state.outcome is Outcome.ACTIVATED and state.escalation_level == 1


# -- one "next deadline" ----------------------------------------------------------------------


def test_the_next_deadline_is_the_next_thing_still_pending():
    state = incident()
    state.receive(at(2), lambda s, now: s.add_evidence(EvidenceInput(source="allied-isr"), now))
    schedule = state.snapshot().schedule
    # Verified at T0+2h: the verification deadline and its escalation check are done with.
    assert [(e.name, e.due_hours) for e in schedule][:2] == [
        ("consultation", 24),
        ("unless_quorum_t24h_l2", 24),
    ]
    assert state.next_event_at() == at(12)  # the timer still wakes for the verdict at T0+12h
    assert schedule[-1].name == "window" and schedule[-1].title == "Activation window closes T0+72h"


def test_a_diplomatic_incident_always_has_a_next_deadline_while_open():
    state = incident("limited_incursion")
    state.receive(at(1), lambda s, now: s.add_evidence(EvidenceInput(source="allied-isr"), now))
    for party in ("uk", "us", "pl"):
        commitment = CommitmentInput(party=party, answer=Answer.COMMIT, assets=("air",))
        state.receive(at(2), lambda s, now, c=commitment: s.add_commitment(c, now))
    for step in list(state.dispatch_queue):
        state.receive(at(3), lambda s, now, step=step: s.dispatch_succeeded(step, now, "log"))
    assert [e.name for e in state.snapshot().schedule] == ["window"]
    assert state.snapshot().schedule[0].title == "Response window closes T0+72h"


# -- nothing after the outcome ----------------------------------------------------------------


def test_a_report_after_its_window_closes_at_intake_and_sends_nothing():
    state = late_report("limited_incursion", 24 * 90, "allied-isr")
    assert state.outcome is Outcome.DIPLOMATIC_RESPONSE
    assert state.closed_at == at(24 * 90) and state.dispatch_queue == []
    assert [d.kind for d in state.decisions][-1] == "diplomatic_response"
    assert "verified" not in [d.kind for d in state.decisions]
    # Before: the report's evidence verified it and three steps went out after the close.
    legacy = late_report("limited_incursion", 24 * 90, "allied-isr", rules=LEGACY_RULES)
    assert legacy.outcome is Outcome.DIPLOMATIC_RESPONSE and len(legacy.dispatch_queue) == 3


def test_steps_presumed_while_catching_up_do_not_start_once_the_window_has_closed():
    state = late_report("large_scale_offensive", 80)
    kinds = [d.kind for d in state.decisions]
    assert "presumed" in kinds and kinds[-1] == "not_activated"
    assert state.dispatch_queue == [] and state.dispatch_started == []
    assert state.unmet == ("consultation", "authorization")
