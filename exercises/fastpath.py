"""The sweep's fast path: a run of a scenario through the workflow's own driver
(workflows/driver.py) and the plan's state machine, without Temporal.

It is the workflow minus what only Temporal adds: the timers become :func:`driver.wake_until`,
the updates :func:`driver.validate` + :func:`driver.apply`, and the activities carry out at once
what an exercise's activities do on the time-skipping server (every diplomatic step reaches the
exercise sink and succeeds). The run is reported with the same report builder and summarised
into the same :class:`RunResult` as a run through Temporal; the conformance sample
(exercises/conformance.py) checks the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from exercises.expectations import evaluate
from exercises.report import ExerciseReport, InjectRecord, NotificationRecord, build_report
from exercises.scenario import Scenario
from exercises.script import (
    JoiningReport,
    LevelAcknowledgement,
    MergingIncident,
    Script,
    ScriptedInject,
    T0Correction,
    acknowledgement,
    build_script,
    exercise_incident,
)
from exercises.sweep_results import RunResult, error_result, summarize_run
from foundation.ids import workflow_id_for
from workflows import driver
from workflows.activity_inputs import DispatchResult
from workflows.messages import (
    CommitmentInput,
    DecisionInput,
    DeploymentInput,
    EvidenceInput,
    MergeHandover,
    NoteInput,
    ViolationReport,
)
from workflows.notices import NoticeInput, NoticeResult
from workflows.state import CURRENT_RULES, IncidentState, Rejected

# Any fixed instant: the plan's times are all relative to T0.
EPOCH = datetime(2030, 1, 1, tzinfo=UTC)
# The current rules, less the ledger's seal: the hash chain and the plan's digest are the
# audit's, no verdict reads them, and they were a third of a run's time here. (The seal's other
# part, a cancel from Temporal recorded as an outcome, cannot happen without Temporal.) The
# notices stay: a scenario acknowledges escalation notices, and an unacknowledged one repeats.
FAST_RULES = replace(CURRENT_RULES, sealed_ledger=False)
# The tolerance the runner allows on the time-skipping server (runner.tolerance_hours).
TOLERANCE_HOURS = 0.05
EXERCISE_CHANNEL = "exercise"


class ExerciseEffects:
    """The activities as an exercise sees them: each step goes to the exercise sink, at once,
    and each notice reaches its addressees."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def dispatch(self, state: IncidentState, step: str, now: datetime) -> DispatchResult:
        self.sent.append(step)
        return DispatchResult(
            channel=EXERCISE_CHANNEL, idempotency_key="", delivered_at=now, already_delivered=False
        )

    def notify(self, state: IncidentState, notice: NoticeInput, now: datetime) -> NoticeResult:
        # An exercise notice reaches every addressee, configured or not (activities/notify.py).
        audiences = tuple(dict.fromkeys(a.audience for a in notice.addressees))
        return NoticeResult(
            notice_id=notice.notice_id,
            recipients=len(audiences),
            delivered=audiences,
            channels=(EXERCISE_CHANNEL,),
        )


def _input(inject: ScriptedInject, at: datetime) -> driver.TimedInput:
    p = inject.payload
    if isinstance(p, EvidenceInput):
        return driver.TimedInput(
            at, lambda s, now: s.add_evidence(p, now), lambda s: s.check_evidence(p)
        )
    if isinstance(p, CommitmentInput):
        return driver.TimedInput(
            at, lambda s, now: s.add_commitment(p, now), lambda s: s.check_commitment(p)
        )
    if isinstance(p, LevelAcknowledgement):
        return driver.TimedInput(
            at,
            lambda s, now: s.acknowledge(acknowledgement(p, s.comms.awaiting), now),
            lambda s: s.check_acknowledge(acknowledgement(p, s.comms.awaiting)),
        )
    if isinstance(p, NoteInput):
        return driver.TimedInput(at, lambda s, now: s.add_note(p, now), lambda s: s.check_note(p))
    if isinstance(p, JoiningReport):
        return driver.TimedInput(
            at,
            lambda s, now: s.join_report(_joining(p, s, now), now),
            lambda s: s.check_join(_joining(p, s, at), at),
        )
    if isinstance(p, DeploymentInput):
        return driver.TimedInput(
            at, lambda s, now: s.report_deployment(p, now), lambda s: s.check_deployment(p)
        )
    if isinstance(p, MergingIncident):
        return _merging(p, at)
    if isinstance(p, T0Correction):

        def corrected(s: IncidentState) -> DecisionInput:
            return p.decision(s.reported_at, s.clock.time_scale)

        return driver.TimedInput(
            at,
            lambda s, now: s.decide(corrected(s), now),
            lambda s: s.check_decision(corrected(s), at),
        )
    assert isinstance(p, DecisionInput)
    return driver.TimedInput(at, lambda s, now: s.decide(p, now), lambda s: s.check_decision(p))


def _merging(p: MergingIncident, at: datetime) -> driver.TimedInput:
    """The incident of its own, opened at ``at`` and merged at once, as the runner does: its
    handover is what the response takes (the absorbed incident's ledger is not the run's)."""
    handovers: dict[str, MergeHandover] = {}

    def handover(s: IncidentState) -> MergeHandover:
        into = s.input.incident_id
        if into not in handovers:
            report = p.report.report(s.input.report.report_id, at, s.clock.time_scale)
            other = replace(s.input, incident_id=f"{into}-{p.report.suffix}", report=report)
            absorbed = IncidentState(other, at, s.rules)
            driver.apply(absorbed, at, lambda a, now: a.decide(p.decision(into), now))
            assert absorbed.handover is not None
            handovers[into] = absorbed.handover
        return handovers[into]

    return driver.TimedInput(
        at,
        lambda s, now: s.absorb(handover(s), now),
        lambda s: s.check_absorb(handover(s)),
    )


def _joining(p: JoiningReport, state: IncidentState, now: datetime) -> ViolationReport:
    return p.report(state.input.report.report_id, now, state.clock.time_scale)


def run_script_fast(
    scenario: Scenario, script: Script, *, run: int = 0, notice_results: bool = True
) -> ExerciseReport:
    """One run of ``script`` without Temporal, reported as the runner reports a real one
    (without the notices' `notified` rows if ``notice_results`` is False)."""
    now = EPOCH
    incident = exercise_incident(scenario, script, now, f"sweep-run-{run}")
    state = IncidentState(incident, now, FAST_RULES, verdict_only=not notice_results)
    # Verdict-only, the state queues no notice: no result is fed back, no `notified` row.
    effects = ExerciseEffects()
    live = [i for i in script.injects if not i.skipped]
    sent = dict(zip(script.injects, script.sent_at_hours(), strict=True))
    answers = driver.drive(
        state, (_input(i, now + timedelta(hours=sent[i])) for i in live), effects
    )
    by_inject = dict(zip(live, answers, strict=True))
    hours = {d.seq: d.t_plus_hours for d in state.decisions}
    injects = []
    for inject in script.injects:
        answer = by_inject.get(inject)
        accepted = isinstance(answer, list) and bool(answer)
        seq = answer[0].seq if accepted else None  # type: ignore[index]
        injects.append(
            InjectRecord(
                index=inject.index,
                offset_hours=round(inject.offset_hours, 4),
                at_hours=hours[seq]
                if seq is not None
                else round(inject.offset_hours + script.lead_hours, 4),
                kind=inject.kind,
                description=inject.describe(),
                accepted=accepted,
                skipped=inject.skipped,
                message="skipped (p_skip)"
                if inject.skipped
                else str(answer)
                if isinstance(answer, Rejected)
                else "",
                seq=seq,
            )
        )
    view = state.view(state.seq)
    report = build_report(
        scenario_name=scenario.name,
        source="",
        plan=scenario.plan_data,
        mode="fast",
        workflow_id=workflow_id_for(incident.incident_id),
        script=script,
        view=view,
        # Only an expectation on decision kinds reads the decision log; describing every
        # decision (detail()) for nothing was a fifth of a run.
        timeline=state.decisions if scenario.expect.decisions is not None else (),
        injects=injects,
        notifications=[
            NotificationRecord(
                step=step,
                title=scenario.plan_data.step(step).title,
                channel=EXERCISE_CHANNEL,
                exercise=True,
            )
            for step in effects.sent
        ],
    )
    return report.model_copy(
        update={"expectations": evaluate(scenario.expect, report, TOLERANCE_HOURS)}
    )


def run_seeds_fast(scenario: Scenario, seeds: Iterable[tuple[int, int]]) -> list[RunResult]:
    """(run, seed) pairs through the fast path, in order."""
    plan = scenario.plan_data
    results = []
    for run, seed in seeds:
        script = build_script(scenario, seed)
        try:
            report = run_script_fast(scenario, script, run=run, notice_results=False)
            results.append(summarize_run(run, report, plan, script.drawn))
        except Exception as exc:  # noqa: BLE001 (one broken run must not sink the sweep)
            results.append(error_result(run, exc, script.drawn))
    return results
