"""Decision kinds and what every view says a decision decided (workflows/decisions.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from plans.loader import get_plan
from workflows.decisions import DecisionKind, detail
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    EvidenceInput,
    IncidentInput,
    Outcome,
    ViolationReport,
)
from workflows.state import IncidentState

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def test_every_kind_the_state_machine_records_is_a_decision_kind():
    state = IncidentState(
        IncidentInput(
            "kyiv-1",
            ViolationReport("r-1", "limited_incursion", "kyiv", "ua-gs", observed_at=T0),
            get_plan(),
        ),
        T0,
    )
    state.receive(T0, lambda s, now: s.add_evidence(EvidenceInput("isr"), now))
    reclassify = DecisionInput(
        Action.RECLASSIFY, "op", "columns crossed", new_kind="large_scale_offensive"
    )
    state.receive(T0 + timedelta(hours=1), lambda s, now: s.decide(reclassify, now))
    state.advance(T0 + timedelta(hours=80))
    assert all(DecisionKind(d.kind) for d in state.decisions)
    assert DecisionKind.of_outcome(Outcome.NOT_ACTIVATED).outcome is Outcome.NOT_ACTIVATED
    assert DecisionKind.of_action(Action.STAND_DOWN).by_operator
    assert DecisionKind.DISPATCHED.reports_a_step and not DecisionKind.VERIFIED.reports_a_step


def _commitment(state: IncidentState, party: str, answer: Answer, *assets: str, hours: float):
    commitment = CommitmentInput(party, answer, assets)
    state.receive(T0 + timedelta(hours=hours), lambda s, now: s.add_commitment(commitment, now))
    return state.decisions[-1] if state.decisions[-1].kind == "commitment" else state.decisions[-2]


def test_a_view_says_what_was_answered_withdrawn_reclassified_and_activated():
    state = IncidentState(
        IncidentInput(
            "kyiv-2",
            ViolationReport("r-2", "limited_incursion", "kyiv", "ua-gs", observed_at=T0),
            get_plan(),
        ),
        T0,
    )
    committed = _commitment(state, "uk", Answer.COMMIT, "air", "naval", hours=1)
    withdrawn = _commitment(state, "uk", Answer.DECLINE, hours=2)
    declined = _commitment(state, "fr", Answer.DECLINE, hours=3)
    assert detail(committed.kind, committed.payload) == "uk commits air, naval"
    assert detail(withdrawn.kind, withdrawn.payload) == "uk withdraws its commitment (declines)"
    assert detail(declined.kind, declined.payload) == "fr declines"

    reclassify = DecisionInput(Action.RECLASSIFY, "op", "armour", new_kind="large_scale_offensive")
    state.receive(T0 + timedelta(hours=4), lambda s, now: s.decide(reclassify, now))
    moved = state.decisions[-1]
    assert detail(moved.kind, moved.payload) == "limited_incursion → large_scale_offensive"

    state.receive(T0 + timedelta(hours=5), lambda s, now: s.add_evidence(EvidenceInput("isr"), now))
    for party, asset in (("uk", "air"), ("us", "naval"), ("pl", "ground")):
        _commitment(state, party, Answer.COMMIT, asset, hours=6)
    authorize = DecisionInput(Action.AUTHORIZE, "op", "quorum")
    state.receive(T0 + timedelta(hours=7), lambda s, now: s.decide(authorize, now))
    activated = state.decisions[-1]
    assert activated.kind == "activated"
    assert detail(activated.kind, activated.payload) == "pl: ground; uk: air; us: naval"


def test_a_kind_from_a_newer_engine_shows_its_payload():
    assert detail("split", {"into": "kyiv-3"}) == "into=kyiv-3"
