"""Property-based tests of the plan logic (``workflows.state.IncidentState``), pure, no server.

Hypothesis draws an incident (plan, kind, how late it is reported, evidence in the report) and a
stream of inputs at arbitrary plan times: evidence, commitments and declines, operator
decisions, diplomatic steps going out or failing. They are applied through the workflow's own
driver (workflows/driver.py): a validator on a preview first (a refused input never reaches the
state), then the change with everything due by then fired first, and the clock advanced past
the window at the end.

Whatever the order and timing, the outcome respects the plan.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plans.loader import load_plans
from plans.model import Plan
from workflows import driver
from workflows.decisions import DecisionKind
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    Evidence,
    EvidenceInput,
    IncidentInput,
    Outcome,
    Verification,
    ViolationReport,
)
from workflows.state import IncidentState, Rejected, quorum_holds


# The plans as they run to their outcome: an activated response under a plan's after_activation
# section lives on (tests/workflows/test_after_activation.py); these properties follow the plan
# up to its outcome, so the section is left out here. So is the bound on how far back a report
# dates its violation on its own: these properties take a late report's T0 as it reports it
# (the bound has a property of its own below).
def _as_reported(plan: Plan) -> Plan:
    reports = plan.reports and replace(plan.reports, confirm_observed_beyond_hours=None)
    return replace(plan, after_activation=None, reports=reports)


SHIPPED = load_plans()
PLANS = {name: _as_reported(plan) for name, plan in SHIPPED.items()}
REPORTED = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
SOURCES = ("ua-general-staff", "allied-isr", "osce-smm", "sentinel-2", "")
OUTCOME_KINDS = {str(o) for o in Outcome}

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Step:
    hours: float  # plan hours after the report
    what: str  # evidence | commitment | decision | dispatch
    value: Any


@dataclass(frozen=True)
class Scenario:
    plan: Plan
    kind: str
    hours_late: float
    evidence: tuple[str, ...]
    steps: tuple[Step, ...]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    plan = PLANS[draw(st.sampled_from(sorted(PLANS)))]
    kinds = list(plan.kind_names)
    military = [k.kind for k in plan.kinds if k.military_response]
    kind = draw(
        st.sampled_from(military) if military and draw(st.booleans()) else st.sampled_from(kinds)
    )
    hours = st.floats(min_value=0, max_value=plan.activation_window_hours + 12, allow_nan=False)
    parties = st.sampled_from([*plan.parties, "nobody"])
    assets = st.lists(st.sampled_from([*plan.assets, "carrier-pigeon"]), max_size=3)
    step = st.one_of(
        st.builds(Step, hours, st.just("evidence"), st.sampled_from(SOURCES)),
        st.builds(
            Step, hours, st.just("commitment"),
            st.tuples(parties, st.sampled_from(list(Answer)), assets.map(tuple)),
        ),
        st.builds(
            Step, hours, st.just("decision"),
            st.tuples(st.sampled_from(list(Action)), st.sampled_from([None, *kinds]), st.sampled_from(["", "because"])),
        ),
        st.builds(Step, hours, st.just("dispatch"), st.booleans()),
    )  # fmt: skip
    steps = draw(st.lists(step, max_size=20))
    if draw(st.booleans()):
        # Most of the time, also what a working crisis cell sends: enough commitments with the
        # required assets, then an authorization, each at a random moment (maybe too late).
        quorum = plan.quorum
        hours = st.floats(
            min_value=0, max_value=plan.activation_window_hours * 0.6, allow_nan=False
        )
        for party in draw(
            st.lists(
                st.sampled_from(plan.parties),
                min_size=quorum.min_committed,
                max_size=quorum.min_committed + 1,
                unique=True,
            )
        ):
            steps.append(
                Step(
                    draw(hours),
                    "commitment",
                    (party, Answer.COMMIT, quorum.required_assets or plan.assets[:1]),
                )
            )
        steps.append(Step(draw(hours), "evidence", draw(st.sampled_from(SOURCES[1:4]))))
        steps.append(Step(draw(hours), "decision", (Action.AUTHORIZE, None, "quorum holds")))
        if draw(st.integers(0, 4)) == 0:
            steps.append(Step(draw(hours), "decision", (Action.STAND_DOWN, None, "withdrawn")))
    return Scenario(
        plan=plan,
        kind=kind,
        hours_late=draw(st.sampled_from([0.0, 0.5, 11.0, 13.0, 30.0, 50.0, 61.0, 80.0])),
        evidence=tuple(draw(st.lists(st.sampled_from(SOURCES[:4]), max_size=2))),
        steps=tuple(sorted(steps, key=lambda s: s.hours)),
    )


@dataclass
class Run:
    state: IncidentState
    levels: list[int]  # escalation level after every step
    refused: int
    applied: int
    # The steps started when the incident closed: none may start after.
    started_at_close: tuple[str, ...] | None = None


def run(scenario: Scenario) -> Run:
    """Drive the state machine as the workflow does: a timer wakes it at each due time, and an
    input is checked by its validator on a preview, then received."""
    plan = scenario.plan
    t0 = REPORTED - timedelta(hours=scenario.hours_late)
    report = ViolationReport(
        report_id="prop-" + uuid.uuid5(uuid.NAMESPACE_URL, repr(scenario)).hex,
        kind=scenario.kind,
        sector="zaporizhzhia",
        reported_by="ua-general-staff",
        observed_at=t0,
        reported_at=REPORTED,
        evidence=tuple(Evidence(source=s) for s in scenario.evidence),
    )
    state = IncidentState(
        IncidentInput(incident_id=report.report_id, report=report, plan=plan), REPORTED
    )
    result = Run(state, [state.escalation_level], 0, 0)
    in_flight: list[str] = []

    def at(hours: float) -> datetime:
        return REPORTED + timedelta(hours=hours)

    def note_close() -> None:
        if not state.is_open and result.started_at_close is None:
            result.started_at_close = tuple(state.dispatch_started)

    note_close()
    for step in scenario.steps:
        now = at(step.hours)
        wake_before(state, now)
        note_close()
        in_flight += state.dispatch_queue
        state.dispatch_queue.clear()
        change = _change(state, step, in_flight)
        if change is None:
            continue
        check, apply = change
        before = [d.seq for d in state.decisions]
        try:
            driver.validate(state, now, apply, check)  # refused inputs never touch the state
        except Rejected:
            result.refused += 1
            assert [d.seq for d in state.decisions] == before, "a validator changed the state"
            continue
        try:
            driver.apply(state, now, apply)
            result.applied += 1
        except Rejected:
            result.refused += 1  # a deadline fell due between the validator and the change
        note_close()
        result.levels.append(state.escalation_level)
    end = t0 + timedelta(hours=plan.activation_window_hours + 1)
    wake_before(state, end)
    driver.advance(state, end)
    note_close()
    result.levels.append(state.escalation_level)
    return result


def wake_before(state: IncidentState, moment: datetime) -> None:
    """As the workflow's durable timer does: wake at each due time before ``moment``. An input at
    ``moment`` itself reaches the workflow before a timer due then (Temporal applies updates
    first), and counts as on time."""
    while (due := state.next_event_at()) is not None and due < moment:
        driver.advance(state, max(due, state.reported_at))


def _change(state: IncidentState, step: Step, in_flight: list[str]) -> tuple[Any, Any] | None:
    if step.what == "evidence":
        evidence = EvidenceInput(source=step.value, summary="seen", actor="reporter")
        return (lambda s: s.check_evidence(evidence)), (
            lambda s, now: s.add_evidence(evidence, now)
        )
    if step.what == "commitment":
        party, answer, assets = step.value
        commitment = CommitmentInput(
            party=party, answer=answer, assets=assets, actor=f"ally:{party}"
        )
        return (lambda s: s.check_commitment(commitment)), (
            lambda s, now: s.add_commitment(commitment, now)
        )
    if step.what == "decision":
        action, new_kind, rationale = step.value
        decision = DecisionInput(
            action=action, actor="duty-officer", rationale=rationale, new_kind=new_kind
        )
        return (lambda s: s.check_decision(decision)), (lambda s, now: s.decide(decision, now))
    # A diplomatic step comes back from the sink, delivered or refused: while the incident is
    # open or after it closed (a step started before the outcome still reports its result).
    if not in_flight:
        return None
    step_id, delivered = in_flight.pop(0), step.value

    def apply(s: IncidentState, now: datetime) -> None:
        if delivered:
            s.dispatch_succeeded(step_id, now, "log")
        else:
            s.dispatch_failed(step_id, now, "refused by the sink")

    return (lambda s: None), apply


# -- the properties ---------------------------------------------------------------------------


@SETTINGS
@given(scenarios())
def test_activation_only_with_verification_quorum_and_authorization_within_the_window(
    scenario: Scenario,
):
    state = run(scenario).state
    window_closes = state.clock.at(scenario.plan.activation_window_hours)
    assert state.outcome is not None, "the incident is still open after its window closed"
    assert state.closed_at is not None and state.closed_at <= max(window_closes, state.reported_at)
    if state.outcome is Outcome.ACTIVATED:
        assert state.policy.military_response
        assert state.verification in (Verification.VERIFIED, Verification.PRESUMED)
        assert quorum_holds(state.plan, state.commitments)
        assert state.authorized_at is not None and state.authorized_at <= state.closed_at
        assert (
            state.closed_at < window_closes or state.closed_at == state.reported_at == window_closes
        )
        kinds = [d.kind for d in state.decisions]
        assert "authorize" in kinds and kinds.index("authorize") < kinds.index("activated")
    if state.outcome is Outcome.NOT_ACTIVATED:
        assert state.unmet, "closed without activation although nothing was missing"


@SETTINGS
@given(scenarios())
def test_exactly_one_outcome_and_nothing_decided_or_started_after_it(scenario: Scenario):
    """After the closing decision nothing new is decided or started: only the results of
    diplomatic steps started before it may follow, late reports and late results included."""
    result = run(scenario)
    state = result.state
    outcomes = [d for d in state.decisions if d.kind in OUTCOME_KINDS]
    assert len(outcomes) == 1, [d.kind for d in outcomes]
    assert outcomes[0].kind == str(state.outcome)
    assert not ({"stood_down", "activated"} <= {d.kind for d in state.decisions})
    after = state.decisions[state.decisions.index(outcomes[0]) + 1 :]
    assert all(DecisionKind(d.kind).reports_a_step for d in after), [d.kind for d in after]
    assert result.started_at_close is not None
    assert tuple(state.dispatch_started) == result.started_at_close, (
        "a step started after the close"
    )
    assert {d.payload["step"] for d in after} <= set(result.started_at_close)


@SETTINGS
@given(scenarios())
def test_sequence_is_contiguous_and_time_never_runs_backwards(scenario: Scenario):
    state = run(scenario).state
    assert [d.seq for d in state.decisions] == list(range(1, len(state.decisions) + 1))
    times = [d.at for d in state.decisions]
    assert times == sorted(times)
    hours = [d.t_plus_hours for d in state.decisions]
    assert hours == sorted(hours)


@SETTINGS
@given(scenarios())
def test_escalation_level_never_goes_down(scenario: Scenario):
    result = run(scenario)
    assert result.levels == sorted(result.levels)
    recorded = [
        d.payload["incident_level"] for d in result.state.decisions if d.kind == "escalated"
    ]
    assert recorded == sorted(recorded)
    assert result.state.escalation_level == max([1, *recorded])


@SETTINGS
@given(scenarios())
def test_the_same_inputs_give_the_same_decisions(scenario: Scenario):
    first, second = run(scenario), run(scenario)
    assert first.state.decisions == second.state.decisions
    assert (first.refused, first.applied) == (second.refused, second.applied)
    assert first.state.view() == second.state.view()


@SETTINGS
@given(scenarios())
def test_a_report_after_its_window_closes_at_intake_and_starts_nothing(scenario: Scenario):
    """The violation's window had closed before the report reached the cell: the incident is
    closed at intake with the verdicts of every deadline, and no step is ever dispatched."""
    if scenario.hours_late <= scenario.plan.activation_window_hours:
        return
    result = run(scenario)
    state = result.state
    assert result.started_at_close == () and state.dispatch_started == []
    kinds = [d.kind for d in state.decisions]
    assert kinds[0] == "reported" and kinds[-1] == str(state.outcome)
    assert set(kinds[1:-1]) <= {"lapsed", "escalated", "presumed"}, kinds
    assert state.closed_at == state.reported_at


@settings(max_examples=100, deadline=None)
@given(
    hours_late=st.floats(min_value=0, max_value=24 * 366, allow_nan=False),
    plan_id=st.sampled_from(sorted(SHIPPED)),
)
def test_t0_never_lies_further_back_than_the_plan_lets_a_report_date_it(
    hours_late: float, plan_id: str
):
    """Whatever a report claims, T0 is at most the plan's bound before the report (held there
    with a ``t0_held`` row naming the claim); without a bound it is what the report says."""
    plan = replace(SHIPPED[plan_id], after_activation=None)
    observed = REPORTED - timedelta(hours=hours_late)
    kind = plan.kind_names[0]
    report = ViolationReport(
        "prop-bound", kind, "s", "r", observed_at=observed, reported_at=REPORTED
    )
    state = IncidentState(IncidentInput("prop-bound", report, plan), REPORTED)
    bound = plan.reports.confirm_observed_beyond_hours if plan.reports else None
    held = [d for d in state.decisions if d.kind == "t0_held"]
    if bound is None or hours_late <= bound:
        assert state.clock.t0 == observed and held == []
    else:
        assert state.clock.t0 == REPORTED - timedelta(hours=bound)
        assert [d.payload["observed_at"] for d in held] == [observed.isoformat()]
