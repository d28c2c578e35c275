"""A fired timer's moment has come, even when workflow.now() says a microsecond less.

The SDK reads an activation's time through a float: a century ahead (where a time-skipping
server's clock gets to after a long sweep) most millisecond instants read a microsecond short.
A deadline's timer that fired on the very millisecond of its moment (about one sweep run in a
hundred) found the deadline not yet due, armed no new timer, and the workflow's loop spun until
the SDK failed its task as deadlocked (TMPRL1101), seconds later. That millisecond cannot be
had on demand: the rule is tested on workflows/clock.TimerTime, and whole runs a century ahead
must still agree with the fast path without a failed task."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from exercises.fastpath import run_script_fast
from exercises.runner import SkippingClock, exercise_worker, run_script, temporary_database
from exercises.scenario import load_scenario
from exercises.script import build_script
from exercises.sweep import draw_seeds
from exercises.sweep_results import summarize_run
from workflows.clock import CLOCK_SLACK, TimerTime
from workflows.servers import start_time_skipping

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "sweep-allies-slow.yaml"


def test_far_ahead_the_clock_reads_short() -> None:
    """The premise: where the float falls short (so the test below tests something)."""
    instant = datetime(2126, 11, 18, 15, 0, 30, 927000, tzinfo=UTC)
    nanos = int(instant.timestamp()) * 10**9 + 927_000_000
    assert datetime.fromtimestamp(nanos / 1e9, UTC) < instant  # what workflow.now() computes


async def test_a_century_ahead_no_task_fails_and_the_runs_agree_with_the_fast_path() -> None:
    scenario = load_scenario(SCENARIO)
    env = await start_time_skipping()
    try:
        await env.sleep(timedelta(days=365 * 100))
        assert (await env.get_current_time()).year >= 2120
        async with (
            temporary_database() as url,
            exercise_worker(env.client, url, f"timer-moment-{uuid.uuid4().hex[:8]}") as worker,
        ):
            for run, seed in enumerate(draw_seeds(5, 4)):
                script = build_script(scenario, seed)
                histories = []

                async def keep(handle, histories=histories):
                    histories.append(await handle.fetch_history())

                report = await run_script(worker, scenario, script, SkippingClock(env), after=keep)
                failed = [
                    e
                    for e in histories[0].events
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
                ]
                assert not failed, failed[0].workflow_task_failed_event_attributes.failure.message
                fast = run_script_fast(scenario, script, run=run)
                plan = scenario.plan_data
                assert summarize_run(run, report, plan).verdict() == (
                    summarize_run(run, fast, plan).verdict()
                )
    finally:
        await env.shutdown()


T = datetime(2126, 11, 18, 15, 0, 30, 927000, tzinfo=UTC)
MICRO = timedelta(microseconds=1)


def test_a_fired_timers_moment_has_come_and_time_goes_on_from_it() -> None:
    time = TimerTime()
    assert time.now(T - MICRO) == T - MICRO  # no timer fired: what the clock says
    time.fired(T, T - MICRO)
    assert time.now(T - MICRO) == T  # the float's microsecond
    assert time.now(T + timedelta(seconds=3)) == T + timedelta(seconds=3)
    time.fired(T - timedelta(hours=1), T)  # an older timer that ran out: the floor stays
    assert time.now(T - MICRO) == T


def test_only_the_floats_error_is_made_up_not_real_time() -> None:
    time = TimerTime()
    time.fired(T, T - 2 * CLOCK_SLACK)
    assert time.now(T - 2 * CLOCK_SLACK) == T - 2 * CLOCK_SLACK
