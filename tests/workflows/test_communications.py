"""Who the incident tells, and when, without a server: requests, reminders, escalation notices
and their repeats until acknowledged, activation orders and close notices."""

from __future__ import annotations

import pytest

from plans.loader import get_plan
from tests.workflows.test_state import at, commit, decide, incident
from workflows.messages import AcknowledgeInput, Action, Answer, CommitmentInput, Outcome
from workflows.notices import NoticeKind, NoticeResult, Undelivered
from workflows.state import IncidentState, Rejected

PARTIES = get_plan().parties


def kinds(notices) -> list[str]:
    return [str(n.notice_kind) for n in notices]


def audiences(notice) -> list[str]:
    return [a.audience for a in notice.addressees]


def test_a_late_offensive_asks_the_parties_and_pages_level_two_at_intake():
    state = incident(reported_hours_after_t0=25)
    sent = state.take_notices()
    assert kinds(sent) == ["consultation_request", "escalation"]
    request, page = sent
    assert audiences(request) == [f"party:{p}" for p in PARTIES]
    assert request.needs_answer and request.facts.deadline == at(24)
    assert request.deliver_until is None  # its deadline has passed: attempts only
    # One notice for the change of level, with every rule that fired in that instant.
    assert audiences(page) == ["level:2", "cell"] and page.needs_ack
    assert page.facts.escalation_level == 2 and len(page.facts.reasons) == 2
    assert page.acknowledges == page.notice_id
    # The reminders at T0+18h and T0+22h were past at intake: skipped, not sent in a burst.
    repeats = []
    for hour in (26, 27, 28, 29, 30):
        assert state.next_event_at() == at(hour)  # the workflow's timer wakes it then
        state.advance(at(hour))
        repeats += state.take_notices()
    assert kinds(repeats) == ["escalation"] * 5  # hourly, T0+26h to T0+30h
    assert [n.facts.repeat for n in repeats] == [1, 2, 3, 4, 5]
    assert {n.acknowledges for n in repeats} == {page.notice_id}
    assert len({n.notice_id for n in sent + repeats}) == 7

    state.acknowledge(AcknowledgeInput(page.notice_id, "level:2", via="link"), at(30.2))
    assert state.view().awaiting_ack == ()
    state.advance(at(40))
    assert state.take_notices() == []
    assert state.decisions[-1].kind == "acknowledged"
    assert state.decisions[-1].payload == {"notice": page.notice_id, "level": 2, "via": "link"}


def test_a_party_that_answers_is_not_reminded():
    state = incident(reported_hours_after_t0=1)
    assert kinds(state.take_notices()) == ["consultation_request"]
    commit(state, "uk", "air", hours=2)
    state.add_commitment(CommitmentInput(party="pl", answer=Answer.DECLINE), at(3))
    state.advance(at(18))
    (reminder,) = [n for n in state.take_notices() if n.notice_kind is NoticeKind.REMINDER]
    assert reminder.notice_kind is NoticeKind.REMINDER
    assert audiences(reminder) == [f"party:{p}" for p in PARTIES if p not in ("uk", "pl")]
    for party in PARTIES:
        if party not in ("uk", "pl"):
            commit(state, party, "naval", hours=19)
    state.advance(at(22))
    # Everyone has answered: no reminder at T0+22h (only the unacknowledged page repeats).
    assert set(kinds(state.take_notices())) == {"escalation"}


def test_a_kind_without_consultation_asks_nobody():
    state = incident(kind="ceasefire_breach")
    assert "consultation_request" not in kinds(state.take_notices())
    decide(state, Action.RECLASSIFY, 2, new_kind="limited_incursion")
    state.advance(at(2))
    assert kinds(state.take_notices()) == ["consultation_request"]


def test_activation_orders_each_committed_party_with_its_assets_then_everyone_is_told():
    state = incident()
    for party, asset in (("uk", "air"), ("us", "naval"), ("pl", "ground")):
        commit(state, party, asset, hours=2)
    state.add_commitment(CommitmentInput(party="de", answer=Answer.DECLINE), at(2))
    decide(state, Action.CONFIRM, 3)
    state.take_notices()
    decide(state, Action.AUTHORIZE, 4)
    state.advance(at(4))
    assert state.outcome is Outcome.ACTIVATED and state.active
    (order,) = state.take_notices()  # the orders go out at activation; the response stays open
    assert order.notice_kind is NoticeKind.ACTIVATION_ORDER
    assert [(a.audience, a.assets) for a in order.addressees] == [
        ("party:pl", ("ground",)),
        ("party:uk", ("air",)),
        ("party:us", ("naval",)),
    ]
    decide(state, Action.TERMINATE, 100)
    state.advance(at(100))
    (close,) = state.take_notices()  # the close notice at termination, and no second order
    assert close.notice_kind is NoticeKind.CLOSE and close.facts.outcome == "activated"
    assert set(audiences(close)) == {f"party:{p}" for p in PARTIES} | {"cell"}


def test_a_stand_down_closes_with_its_rationale_and_no_more_repeats():
    state = incident(reported_hours_after_t0=25)
    state.take_notices()
    decide(state, Action.STAND_DOWN, 25.5)
    state.advance(at(25.5))
    (close,) = state.take_notices()
    assert close.notice_kind is NoticeKind.CLOSE
    assert close.facts.rationale == "Stood down by op: because"
    assert "level:2" in audiences(close)
    assert state.view().awaiting_ack == () and state.next_event_at() is None


def test_acknowledgements_are_checked():
    state = incident(reported_hours_after_t0=25)
    page = state.take_notices()[1]
    with pytest.raises(Rejected) as unknown:
        state.check_acknowledge(AcknowledgeInput("made-up", "op"))
    assert unknown.value.field == "notice_id" and not unknown.value.conflict
    with pytest.raises(Rejected) as nobody:
        state.check_acknowledge(AcknowledgeInput(page.notice_id, " "))
    assert nobody.value.field == "actor"
    state.acknowledge(AcknowledgeInput(page.notice_id, "op"), at(25.1))
    with pytest.raises(Rejected) as twice:
        state.check_acknowledge(AcknowledgeInput(page.notice_id, "level:2", via="link"))
    assert twice.value.conflict


def test_results_are_recorded_and_undelivered_recipients_counted():
    state = incident(reported_hours_after_t0=1)
    (request,) = state.take_notices()
    result = NoticeResult(
        notice_id=request.notice_id,
        recipients=11,
        delivered=tuple(audiences(request)[1:]),
        undelivered=(Undelivered("party:us", "mailto://u...@example.org", "refused"),),
        unconfigured=(),
    )
    state.receive(at(1.01), lambda s, now: s.notice_result(request, result, now))
    notified, failed = state.decisions[-2:]
    assert notified.kind == "notified" and notified.payload["undelivered"] == ["party:us"]
    assert failed.kind == "delivery_failed" and failed.payload["audience"] == "party:us"
    assert state.view().undelivered == 1


def test_communications_carry_over_to_the_next_run():
    state = incident(reported_hours_after_t0=25)
    page = state.take_notices()[1]
    carried = state.carry(2)
    resumed = IncidentState.resume(state.input, carried)
    assert resumed.view().awaiting_ack == state.view().awaiting_ack
    resumed.advance(at(26))
    (repeat,) = resumed.take_notices()
    assert repeat.acknowledges == page.notice_id
    assert repeat.notice_id.endswith("0003-escalation")  # the counter went on
