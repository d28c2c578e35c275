"""Every scenario under scenarios/ runs through the production workflow on the time-skipping
server and meets its own `expect` block."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from db.models import Incident, LedgerDecision, Notification
from db.session import create_engine, session_factory
from exercises.report import ExerciseReport
from exercises.runner import SkippingClock, exercise_worker, run_script, run_time_skipping
from exercises.scenario import load_scenario
from exercises.script import build_script

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))

# The plan paths the scenario set must cover, by the outcome or the decision that marks them.
REQUIRED_PATHS = {
    "activated",
    "not_activated",
    "unverified_closed",
    "stood_down",
    "diplomatic_response",
    "reclassify",
    "quorum_lost",
    "presumed",
    "refused inject",
}


def test_at_least_eight_scenarios_cover_every_plan_path() -> None:
    assert len(SCENARIOS) >= 8
    covered: set[str] = set()
    for path in SCENARIOS:
        scenario = load_scenario(path)
        if scenario.expect.outcome is not None:
            covered.add(str(scenario.expect.outcome))
        covered.update(scenario.expect.decisions or [])
        if scenario.expect.rejected_injects:
            covered.add("refused inject")
    assert covered >= REQUIRED_PATHS, REQUIRED_PATHS - covered


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_scenario_meets_its_expectations(
    path: Path, ts_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    scenario = load_scenario(path)
    report = await run_time_skipping(
        scenario, source=str(path), env=ts_env, database_url=sqlite_url
    )
    failed = [e for e in report.expectations if not e.met]
    assert not failed, failed
    assert report.expectations, "every shipped scenario states what it expects"
    assert report.exercise and report.incident_id.startswith("exercise-")
    assert all(n.exercise and n.channel == "exercise" for n in report.notifications)
    # Times in the report are plan hours after T0: the report arrives at T0 + lead.
    assert report.decisions[0].kind == "reported"
    assert report.decisions[0].at_hours == pytest.approx(report.lead_hours, abs=0.01)


async def test_refused_inject_carries_the_validators_message(
    ts_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    scenario = load_scenario(SCENARIOS[0].parent / "authorize-before-quorum.yaml")
    report = await run_time_skipping(scenario, env=ts_env, database_url=sqlite_url)
    [refused] = report.rejected
    assert refused.kind == "decision" and refused.at_hours == pytest.approx(8, abs=0.05)
    assert "authorization needs the allied quorum first" in refused.message
    # ...and the exercise carried on to the second, accepted attempt.
    assert [d.actor for d in report.decisions if d.kind == "authorize"] == ["nac-chair"]
    assert report.outcome == "activated"


async def test_inject_after_close_is_refused_as_closed(
    ts_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    report = await run_time_skipping(
        load_scenario(SCENARIOS[0].parent / "stand-down.yaml"), env=ts_env, database_url=sqlite_url
    )
    [refused] = report.rejected
    assert refused.message.startswith("incident already closed (stood_down at T0+9h)")


async def test_exercise_is_marked_in_the_ledger_and_never_reaches_the_real_sink(
    ts_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    scenario = load_scenario(SCENARIOS[0].parent / "full-activation.yaml")
    async with exercise_worker(ts_env.client, sqlite_url, "exercise-ledger-test") as worker:
        report = await run_script(worker, scenario, build_script(scenario), SkippingClock(ts_env))
    assert worker.real_sink.sent == []
    assert {m.step for m in worker.exercise_sink.sent} == {
        "demarche",
        "unsc_session",
        "sanctions_snapback",
    }
    engine = create_engine(sqlite_url)
    try:
        async with session_factory(engine)() as session:
            incident = await session.get(Incident, report.incident_id)
            assert incident is not None and incident.exercise and incident.outcome == "activated"
            kinds = (
                await session.scalars(
                    select(LedgerDecision.kind)
                    .where(LedgerDecision.incident_id == report.incident_id)
                    .order_by(LedgerDecision.seq)
                )
            ).all()
            # The report shows the response active; exercise control then ended it.
            assert report.phase == "active"
            assert kinds[: len(report.decisions)] == [d.kind for d in report.decisions]
            assert kinds[len(report.decisions) :] == ["terminate", "terminated", "notified"]
            channels = (
                await session.scalars(
                    select(Notification.channel).where(
                        Notification.incident_id == report.incident_id
                    )
                )
            ).all()
            assert channels and set(channels) == {"exercise"}
    finally:
        await engine.dispose()


async def test_one_scenario_gives_one_ledger_row_for_row(ts_env: WorkflowEnvironment, sqlite_url):
    """Two runs of the same scenario: the same decisions in the same order, by the same actors,
    with the same payloads, at the same plan times (to 0.01 h). Only wall-clock times and hashes
    may differ, so two after-action reports of one scenario compare line by line."""
    scenario = load_scenario(next(p for p in SCENARIOS if p.stem == "late-report"))

    # Absolute times in payloads are wall-clock times of the run; each run gets its own report id.
    # Notice ids are the workflow's id and a counter: the counter is the same in both runs.
    run_specific = {"observed_at", "reported_at", "due_at", "report_id", "notice", "acknowledges"}

    def ledger(report: ExerciseReport) -> list[tuple]:
        return [
            (
                d.kind,
                d.actor,
                {k: v for k, v in d.payload.items() if k not in run_specific},
                round(d.at_hours, 2),
            )
            for d in report.decisions
        ]

    first = await run_time_skipping(scenario, env=ts_env, database_url=sqlite_url)
    second = await run_time_skipping(scenario, env=ts_env, database_url=sqlite_url)
    assert ledger(first) == ledger(second)
    # Three diplomatic steps went out at once; their results stand in the plan's order.
    steps = [d.payload["step"] for d in first.decisions if d.kind == "dispatched"]
    assert steps == ["demarche", "unsc_session", "sanctions_snapback"]
