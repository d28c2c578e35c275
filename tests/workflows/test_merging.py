"""Merging one open incident into another and correcting T0, without a server: the absorbed
incident hands over its reports, sources, answers and steps sent; the absorbing one's T0 becomes
the earliest violation (past deadlines fall due at once); a later answer wins; a step goes out
once; a report dated beyond the plan's bound holds T0 until an operator confirms."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from plans.loader import get_plan
from tests.workflows.test_state import T0, at, commit, decide, incident
from workflows import driver
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DeadlineStatus,
    DecisionInput,
    IncidentInput,
    MergeResult,
    Outcome,
    Verification,
    ViolationReport,
)
from workflows.state import IncidentState, Rejected


def other(incident_id: str, sector: str, observed_hours: float, hours: float) -> IncidentState:
    report = ViolationReport(
        report_id=f"r-{incident_id}",
        kind="large_scale_offensive",
        sector=sector,
        reported_by=f"{sector.lower()}-command",
        observed_at=at(observed_hours),
        reported_at=at(hours),
    )
    state = IncidentState(
        IncidentInput(incident_id=incident_id, report=report, plan=get_plan("allied-72h")),
        at(hours),
    )
    state.advance(at(hours))
    return state


def merge_decision(into: str = "donetsk-1") -> DecisionInput:
    return DecisionInput(action=Action.MERGE, actor="op", rationale="one offensive", into=into)


def merge(absorbed: IncidentState, survivor: IncidentState, hours: float) -> None:
    """What the workflows do: the decision, the handover update, the result back."""
    driver.apply(absorbed, at(hours), lambda s, now: s.decide(merge_decision(), now))
    handover = absorbed.handover
    assert handover is not None
    driver.apply(survivor, at(hours), lambda s, now: s.absorb(handover, now))
    taken = next(d for d in reversed(survivor.decisions) if d.kind == "absorbed")
    result = MergeResult(
        into=survivor.input.incident_id,
        seq=taken.seq,
        t0=survivor.clock.t0,
        sectors=tuple(survivor.sectors),
        reports=len(survivor.report_ids),
    )
    driver.apply(absorbed, at(hours), lambda s, now: s.merge_done(result, now))


def kinds_after(state: IncidentState, kind: str) -> list[str]:
    kinds = [d.kind for d in state.decisions]
    return kinds[kinds.index(kind) :]


def test_the_absorbed_incident_closes_merged_and_its_content_carries_over():
    survivor = incident()
    absorbed = other("kherson-1", "Kherson", 1, 2)
    absorbed.add_commitment(
        CommitmentInput(party="uk", answer=Answer.COMMIT, assets=("air",)), at(2)
    )
    merge(absorbed, survivor, 3)
    assert absorbed.outcome is Outcome.MERGED and absorbed.closed_at == at(3)
    assert absorbed.merged_into == "donetsk-1"
    assert absorbed.snapshot().merged_into == "donetsk-1"
    assert [d.kind for d in absorbed.decisions][-2:] == ["merge", "merged"]
    assert survivor.snapshot().merged_from == ("kherson-1",)
    assert survivor.sectors == ["donetsk", "Kherson"] and survivor.snapshot().reports == 2
    assert "kherson-command" in survivor.sources
    assert survivor.verification is Verification.VERIFIED  # two reporters: two sources
    assert survivor.commitments["uk"].answer is Answer.COMMIT
    absorbed_row = next(d for d in survivor.decisions if d.kind == "absorbed")
    assert absorbed_row.payload["incident"] == "kherson-1"
    assert absorbed_row.payload["reports"] == ["r-kherson-1"]
    assert absorbed_row.payload["commitments_taken"] == ["uk"]


def test_merging_an_earlier_t0_fires_past_deadlines_at_once():
    """The survivor was reported at T0; at T0+20h an incident observed 10 h before T0 is folded
    in. T0 moves 10 h earlier: verification (due at the new T0+12h = T0+2h) and the
    consultation (T0+14h) are past and fall due at once; the verdicts show them missed."""
    survivor = incident()
    absorbed = other("kherson-1", "Kherson", -10, -9)
    merge(absorbed, survivor, 20)
    assert survivor.clock.t0 == T0 - timedelta(hours=10)
    taken = next(d for d in survivor.decisions if d.kind == "absorbed")
    assert taken.payload["t0_moved_from"] == T0.isoformat()
    after = kinds_after(survivor, "absorbed")
    assert after[:2] == ["absorbed", "lapsed"]
    lapsed = [d.payload["deadline"] for d in survivor.decisions if d.kind == "lapsed"]
    assert lapsed[:2] == ["verification", "consultation"]
    statuses = {d.name: d.status for d in survivor.view().deadlines}
    assert statuses["verification"] is DeadlineStatus.MISSED
    assert survivor.escalation_level >= 2  # the rules due by now escalated


def test_a_verdict_already_given_keeps_its_verdict():
    survivor = incident()
    survivor.join_report(
        ViolationReport("r-2", "large_scale_offensive", "Luhansk", "lu", observed_at=at(0.5)),
        at(1),
    )
    assert survivor.verification is Verification.VERIFIED
    driver.advance(survivor, at(13))
    assert {d.name: d.status for d in survivor.view().deadlines}["verification"] is (
        DeadlineStatus.MET
    )
    merge(other("kherson-1", "Kherson", -30, -29), survivor, 14)
    assert {d.name: d.status for d in survivor.view().deadlines}["verification"] is (
        DeadlineStatus.MET
    )


def test_for_a_party_that_answered_in_both_the_later_answer_wins():
    survivor = incident()
    absorbed = other("kherson-1", "Kherson", 1, 1)
    absorbed.add_commitment(
        CommitmentInput(party="uk", answer=Answer.DECLINE), at(2)
    )  # earlier than the survivor's
    absorbed.add_commitment(
        CommitmentInput(party="fr", answer=Answer.COMMIT, assets=("air",)), at(4)
    )
    commit(survivor, "uk", "air", hours=3)
    survivor.add_commitment(CommitmentInput(party="fr", answer=Answer.DECLINE), at(3))
    merge(absorbed, survivor, 5)
    assert survivor.commitments["uk"].answer is Answer.COMMIT  # the survivor's, later
    assert survivor.commitments["fr"].answer is Answer.COMMIT  # the absorbed's, later


def test_a_step_sent_by_either_incident_is_not_sent_again():
    survivor = incident()
    absorbed = other("kherson-1", "Kherson", 1, 1)
    absorbed.join_report(
        ViolationReport("r-x", "large_scale_offensive", "Kherson", "osint", observed_at=at(1)),
        at(1),
    )
    assert absorbed.verification is Verification.VERIFIED
    sent_there = list(absorbed.dispatch_started)
    assert sent_there  # the démarche and the rest started there
    merge(absorbed, survivor, 2)
    assert survivor.verification is Verification.VERIFIED
    assert survivor.dispatch_queue == []  # nothing to send: the absorbed incident sent it
    assert set(sent_there) <= set(survivor.dispatch_started)


def test_a_merge_is_taken_once():
    survivor = incident()
    absorbed = other("kherson-1", "Kherson", 1, 1)
    driver.apply(absorbed, at(2), lambda s, now: s.decide(merge_decision(), now))
    handover = absorbed.handover
    assert handover is not None
    driver.apply(survivor, at(2), lambda s, now: s.absorb(handover, now))
    seq = survivor.seq
    driver.apply(survivor, at(3), lambda s, now: s.absorb(handover, now))
    assert survivor.seq == seq


def test_while_a_merge_is_under_way_inputs_go_to_the_absorbing_incident():
    absorbed = other("kherson-1", "Kherson", 1, 1)
    driver.apply(absorbed, at(2), lambda s, now: s.decide(merge_decision(), now))
    with pytest.raises(Rejected, match="being merged into donetsk-1") as refused:
        absorbed.check_commitment(CommitmentInput(party="uk", answer=Answer.DECLINE))
    assert refused.value.conflict
    assert absorbed.view().merging_into == "donetsk-1"


def test_a_refused_merge_leaves_the_absorbed_incident_open():
    absorbed = other("kherson-1", "Kherson", 1, 1)
    driver.apply(absorbed, at(2), lambda s, now: s.decide(merge_decision(), now))
    driver.apply(absorbed, at(2), lambda s, now: s.merge_refused("conflict", "it has ended", now))
    assert absorbed.is_open and absorbed.handover is None
    assert absorbed.decisions[-1].kind == "merge_refused"
    assert absorbed.decisions[-1].payload == {"into": "donetsk-1", "reason": "conflict"}


@pytest.mark.parametrize(
    ("decision", "field"),
    [
        (merge_decision(into="kherson-1"), "into"),  # itself
        (replace(merge_decision(), into=""), "into"),
        (replace(merge_decision(), into=" padded"), "into"),
        (replace(merge_decision(), into="exercise-1"), "into"),  # another world
        (DecisionInput(Action.CONFIRM, "op", "x", into="donetsk-1"), "into"),
        (DecisionInput(Action.CONFIRM, "op", "x", observed_at=T0), "observed_at"),
        (DecisionInput(Action.CORRECT_T0, "op", "x"), "observed_at"),
        (DecisionInput(Action.CORRECT_T0, "op", "x", observed_at=at(50)), "observed_at"),
        (DecisionInput(Action.CORRECT_T0, "op", "x", observed_at=at(1)), "observed_at"),  # T0
        (
            DecisionInput(Action.CORRECT_T0, "op", "x", observed_at=at(-24 * 400)),
            "observed_at",
        ),
    ],
)
def test_merge_and_correct_t0_refuse_bad_input(decision, field):
    state = other("kherson-1", "Kherson", 1, 1)
    with pytest.raises(Rejected) as refused:
        state.check_decision(decision, at(2))
    assert refused.value.field == field


def test_the_absorbing_incident_refuses_another_plan_or_when_closed():
    absorbed = other("kherson-1", "Kherson", 1, 1)
    driver.apply(absorbed, at(2), lambda s, now: s.decide(merge_decision(), now))
    handover = absorbed.handover
    assert handover is not None
    survivor = incident()
    with pytest.raises(Rejected, match="plan allied-72h v9") as refused:
        survivor.check_absorb(replace(handover, plan_version=9))
    assert refused.value.conflict and refused.value.field == "into"
    with pytest.raises(Rejected, match="not for incident"):
        survivor.check_absorb(replace(handover, into="somewhere-else"))
    decide(survivor, Action.STAND_DOWN, 3)
    with pytest.raises(Rejected, match="has ended"):
        survivor.check_absorb(handover)


def test_correct_t0_earlier_fires_what_is_now_past_and_later_re_anchors():
    state = incident()
    driver.apply(
        state,
        at(5),
        lambda s, now: s.decide(
            DecisionInput(Action.CORRECT_T0, "op", "radar log", observed_at=at(-8)), now
        ),
    )
    assert state.clock.t0 == at(-8)
    corrected = next(d for d in state.decisions if d.kind == "correct_t0")
    assert corrected.payload["t0_from"] == T0.isoformat()
    assert kinds_after(state, "correct_t0")[1] == "lapsed"  # verification due at T0+4h: past
    # Back to a later time: pending deadlines re-anchor; the verdict given stands.
    driver.apply(
        state,
        at(6),
        lambda s, now: s.decide(
            DecisionInput(Action.CORRECT_T0, "op", "the log was wrong", observed_at=at(0)), now
        ),
    )
    assert state.clock.t0 == T0
    view = state.view()
    assert {d.name: d.status for d in view.deadlines}["verification"] is DeadlineStatus.MISSED
    assert view.schedule[0].due_at == T0 + timedelta(hours=24)  # consultation, re-anchored


def bounded_plan():
    plan = get_plan("allied-72h")
    assert plan.reports is not None
    return replace(plan, reports=replace(plan.reports, confirm_observed_beyond_hours=72))


def test_a_report_dated_beyond_the_plans_bound_holds_t0_until_an_operator_confirms():
    """A report typed a week back: T0 held 72 h before the report, so the ladder does not
    jump to heads of government at once; correct_t0 to the claimed time confirms it."""
    report = ViolationReport(
        "r-1", "large_scale_offensive", "donetsk", "ua-gs", observed_at=at(-24 * 7), reported_at=T0
    )
    state = IncidentState(IncidentInput("donetsk-1", report, bounded_plan()), T0)
    state.advance(T0)
    assert state.clock.t0 == T0 - timedelta(hours=72)
    held = next(d for d in state.decisions if d.kind == "t0_held")
    assert held.payload["observed_at"] == at(-24 * 7).isoformat()
    assert state.outcome is Outcome.NOT_ACTIVATED  # held at 72 h back: the window just closed
    # Within the bound nothing is held.
    near = replace(report, observed_at=at(-10))
    state = IncidentState(IncidentInput("donetsk-2", near, bounded_plan()), T0)
    assert state.clock.t0 == at(-10) and all(d.kind != "t0_held" for d in state.decisions)


def test_a_joining_report_beyond_the_bound_moves_t0_only_to_the_bound():
    report = ViolationReport("r-1", "large_scale_offensive", "donetsk", "ua-gs", observed_at=T0)
    state = IncidentState(IncidentInput("donetsk-1", report, bounded_plan()), T0)
    state.join_report(
        ViolationReport(
            "r-2", "large_scale_offensive", "Kherson", "kh", observed_at=at(-500), reported_at=at(1)
        ),
        at(1),
    )
    assert state.clock.t0 == at(1) - timedelta(hours=72)
    joined = next(d for d in state.decisions if d.kind == "report_joined")
    assert joined.payload["t0_held_at"] == (at(1) - timedelta(hours=72)).isoformat()
