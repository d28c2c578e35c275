"""Reports of one offensive join one response, without a server: sectors gathered, each
reporter a source, T0 the earliest violation observed (past deadlines then fall due at once,
judged as for a late report), a report joining once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.workflows.test_state import T0, at, commit, decide, incident
from workflows.messages import (
    Action,
    DeadlineStatus,
    Evidence,
    Outcome,
    Verification,
    ViolationReport,
)
from workflows.state import IncidentState, Rejected, Rules


def report(n: int, sector: str, observed_hours: float, hours: float, **kw) -> ViolationReport:
    return ViolationReport(
        report_id=f"r-{n}",
        kind=kw.pop("kind", "large_scale_offensive"),
        sector=sector,
        reported_by=kw.pop("reported_by", f"{sector.lower()}-command"),
        observed_at=at(observed_hours),
        reported_at=at(hours),
        **kw,
    )


def statuses(state: IncidentState) -> dict[str, DeadlineStatus]:
    return {d.name: d.status for d in state.view(state.reported_at).deadlines}


def test_reports_from_three_sectors_make_one_response_and_verify_it():
    state = incident()
    state.join_report(report(2, "Kherson", 1, 2), at(2))
    assert state.verification is Verification.VERIFIED  # two reporters: two sources
    state.join_report(report(3, "Zaporizhzhia", 2, 3), at(3))
    assert state.sectors == ["donetsk", "Kherson", "Zaporizhzhia"]
    snapshot = state.snapshot()
    assert snapshot.sectors == ("donetsk", "Kherson", "Zaporizhzhia") and snapshot.reports == 3
    assert snapshot.t0 == T0  # both observed after the first: T0 stays
    joined = [d for d in state.decisions if d.kind == "report_joined"]
    assert [d.payload["sector"] for d in joined] == ["Kherson", "Zaporizhzhia"]
    assert joined[-1].payload["reports"] == 3 and "t0_moved_from" not in joined[-1].payload
    # The consultation is one: the parties were asked once, at the start.
    asked = [n for n in state.take_notices() if n.notice_kind == "consultation_request"]
    assert len(asked) == 1


def test_a_report_joins_once():
    state = incident()
    state.join_report(report(2, "Kherson", 1, 2), at(2))
    seq = state.seq
    state.join_report(report(2, "Kherson", 1, 2), at(3))
    assert state.seq == seq and state.snapshot().reports == 2


def test_an_earlier_report_moves_t0_and_past_deadlines_fall_due_at_once():
    """Reported at T0+20h; a sector reports the offensive began 30 h earlier. T0 moves there:
    verification (due T0+12h) and the quorum (T0+24h) are now past, and fall due at once;
    the joining reporter verifies late (not presumed), and the ladder climbs."""
    state = incident(reported_hours_after_t0=20)
    state.take_notices()
    state.join_report(report(2, "Kherson", -10, 20, evidence=(Evidence("osint"),)), at(20))
    state.advance(at(20))
    assert state.clock.t0 == T0 - timedelta(hours=10)
    joined = next(d for d in state.decisions if d.kind == "report_joined")
    assert joined.payload["t0_moved_from"] == T0.isoformat()
    assert joined.payload["t0"] == (T0 - timedelta(hours=10)).isoformat()
    kinds = [d.kind for d in state.decisions]
    after = kinds[kinds.index("report_joined") :]
    assert after[:3] == ["report_joined", "lapsed", "escalated"]  # verification, then its rule
    assert "verified" in after and "presumed" not in after
    assert statuses(state)["verification"] is DeadlineStatus.MISSED
    assert statuses(state)["consultation"] is DeadlineStatus.MISSED
    assert state.escalation_level == 2
    assert state.snapshot().window_closes_at == T0 + timedelta(hours=62)
    # Deadlines still ahead re-anchored on the new T0.
    assert state.view(at(20)).deadlines[-1].due_at == T0 + timedelta(hours=62)


def test_an_earlier_report_past_the_window_closes_the_response():
    state = incident(reported_hours_after_t0=5)
    state.join_report(report(2, "Kherson", -80, 5), at(5))
    state.advance(at(5))
    assert state.outcome is Outcome.NOT_ACTIVATED and state.closed_at == at(5)


def test_after_activation_a_report_still_joins_but_t0_stays():
    state = incident()
    for party in ("us", "uk", "fr"):
        commit(state, party, "air", hours=3)
    decide(state, Action.AUTHORIZE, 4)
    state.join_report(report(2, "Kherson", -5, 5), at(5))  # verifies: activates
    state.advance(at(5))
    assert state.outcome is Outcome.ACTIVATED and state.is_open
    state.join_report(report(3, "Sumy", -20, 6), at(6))
    assert state.clock.t0 == T0 - timedelta(hours=5) and "Sumy" in state.sectors


def test_bad_joining_reports_are_refused_naming_the_field():
    state = incident()
    cases = {
        "sector": report(2, "Kher\u0007son", 1, 2),
        "kind": report(3, "Kherson", 1, 2, kind="skirmish"),
        "observed_at": report(4, "Kherson", 30, 2),
    }
    for field, bad in cases.items():
        with pytest.raises(Rejected) as refused:
            state.check_join(bad, at(2))
        assert refused.value.field == field, (field, refused.value)
    decide(state, Action.STAND_DOWN, 3)
    with pytest.raises(Rejected, match="has ended"):
        state.check_join(report(5, "Kherson", 1, 4), at(4))
    legacy = incident(rules=Rules(joining=False))
    with pytest.raises(Rejected) as refused:
        legacy.check_join(report(6, "Kherson", 1, 2), at(2))
    assert refused.value.field == "joins" and refused.value.conflict


def test_the_joined_reports_carry_over_to_the_next_run():
    state = incident(reported_hours_after_t0=20)
    state.join_report(report(2, "Kherson", -10, 20), at(20))
    carried = state.carry(run=2)
    resumed = IncidentState.resume(state.input, carried, run_id="run-2")
    assert resumed.clock.t0 == T0 - timedelta(hours=10)
    assert resumed.sectors == ["donetsk", "Kherson"] and resumed.report_ids == ["r-1", "r-2"]
    seq = resumed.seq
    resumed.join_report(report(2, "Kherson", -10, 20), at(21))  # still joined once
    assert resumed.seq == seq
