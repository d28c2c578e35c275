"""Monte Carlo sweeps: the same scenario many times, with inject times and answers drawn from
the scenario's distributions.

Every run's script is drawn up front from a seed derived from the sweep's seed, so a sweep is
reproducible whatever the scheduling. The time-skipping server has one clock per environment, so
runs go to a pool of servers, each with its own worker and ledger, each running one scenario at a
time.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from db.migrate import upgrade_async
from exercises.report import ExerciseReport
from exercises.runner import SkippingClock, exercise_worker, run_script, scratch_dir
from exercises.scenario import Scenario
from exercises.script import Script, build_script
from plans.model import Condition, Plan
from workflows.messages import DeadlineStatus, Outcome, Phase
from workflows.servers import start_time_skipping

# Measured on 2 cores, 100 runs of sweep-allies-slow while other jobs shared the machine: one
# server 51 s; two servers in one process 52 s (the Python side is the bottleneck); two processes
# with one server each 43 s; three processes 48 s; four servers over two processes 49 s.
DEFAULT_PARALLEL = 2


class RunResult(BaseModel):
    run: int
    outcome: str
    activated_at_hours: float | None
    closed_at_hours: float | None
    escalation_level: int
    unmet: list[str]
    last_condition: str | None  # among verification/quorum/authorization, the one met last
    rejected_injects: int
    expectations_met: bool
    error: str = ""


class Percentiles(BaseModel):
    count: int
    min: float | None = None
    p10: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    max: float | None = None
    mean: float | None = None


class SweepSummary(BaseModel):
    scenario: str
    source: str
    runs: int
    seed: int
    parallel: int
    wall_seconds: float
    window_hours: float
    p_activated_within_window: float
    outcomes: dict[str, int]
    time_to_activation: Percentiles
    held_back: dict[str, int]  # over runs not activated: the first unmet condition in plan order
    unmet_at_close: dict[str, int]  # over runs not activated: every condition unmet at the close
    most_common_hold_back: str | None
    last_condition: dict[str, int]  # over activated runs: which condition came last
    expectations_met: float  # share of runs meeting every expectation
    results: list[RunResult]


def _minute(hours: float | None) -> float | None:
    # Draws are to the minute; rounding absorbs the server clock's sub-second jitter.
    return None if hours is None else round(hours * 60) / 60


def _last_condition(report: ExerciseReport, plan: Plan) -> str | None:
    """Among the steps activation needs, the one done last (ties go to the later step)."""
    if report.outcome != str(Outcome.ACTIVATED):
        return None
    verification_ended = next(
        (p.end_hours for p in report.phases if p.phase == Phase.VERIFICATION), None
    )
    done: dict[str, float] = {}
    for record in report.deadlines:
        step = plan.deadline(record.name)
        if not step.required_for_activation or record.status == DeadlineStatus.NOT_APPLICABLE:
            continue
        at = record.actual_hours
        if at is None and step.condition is Condition.VERIFIED:
            at = verification_ended  # presumed: the plan proceeded without verification
        if at is not None:
            done[record.name] = at
    order = [d.name for d in plan.deadlines]
    return max(done, key=lambda name: (round(done[name], 3), order.index(name))) if done else None


def summarize_run(run: int, report: ExerciseReport, plan: Plan) -> RunResult:
    return RunResult(
        run=run,
        outcome=report.outcome or "open",
        activated_at_hours=_minute(report.activated_at_hours),
        closed_at_hours=_minute(report.closed_at_hours),
        escalation_level=report.escalation_level,
        unmet=sorted(report.unmet_conditions),
        last_condition=_last_condition(report, plan),
        rejected_injects=len(report.rejected),
        expectations_met=report.passed,
    )


def percentiles(values: list[float]) -> Percentiles:
    if not values:
        return Percentiles(count=0)
    ordered = sorted(values)

    def rank(q: float) -> float:  # nearest rank: always a value that occurred
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]

    return Percentiles(
        count=len(ordered),
        min=ordered[0],
        p10=rank(0.10),
        p25=rank(0.25),
        p50=rank(0.50),
        p75=rank(0.75),
        p90=rank(0.90),
        max=ordered[-1],
        mean=round(sum(ordered) / len(ordered), 2),
    )


def draw_scripts(scenario: Scenario, runs: int, seed: int) -> list[Script]:
    master = random.Random(seed)
    return [build_script(scenario, random.Random(master.getrandbits(64))) for _ in range(runs)]


async def run_slots(
    scenario: Scenario,
    scripts: dict[int, Script],
    *,
    servers: int,
    source: str = "",
    on_done: Callable[[RunResult], None] | None = None,
) -> dict[int, RunResult]:
    """Run ``scripts`` (by run number) on ``servers`` time-skipping servers in this process."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for run in sorted(scripts):
        queue.put_nowait(run)
    results: dict[int, RunResult] = {}

    with tempfile.TemporaryDirectory(prefix="exercise-sweep-", dir=scratch_dir()) as directory:
        # Migrate once and copy: each server gets a ledger of its own (SQLite has one writer).
        template = Path(directory) / "template.db"
        await upgrade_async(f"sqlite+aiosqlite:///{template}")

        async def slot(index: int) -> None:
            path = Path(directory) / f"ledger-{index}.db"
            shutil.copyfile(template, path)
            env = await start_time_skipping()
            try:
                queue_name = f"exercise-sweep-{index}-{uuid.uuid4().hex[:8]}"
                async with exercise_worker(
                    env.client, f"sqlite+aiosqlite:///{path}", queue_name
                ) as worker:
                    while not queue.empty():
                        run = queue.get_nowait()
                        try:
                            report = await run_script(
                                worker, scenario, scripts[run], SkippingClock(env), source=source
                            )
                            result = summarize_run(run, report, scenario.plan_data)
                        except Exception as exc:  # noqa: BLE001 (one broken run must not sink the sweep)
                            result = RunResult(
                                run=run,
                                outcome="error",
                                activated_at_hours=None,
                                closed_at_hours=None,
                                escalation_level=0,
                                unmet=[],
                                last_condition=None,
                                rejected_injects=0,
                                expectations_met=False,
                                error=f"{type(exc).__name__}: {exc}",
                            )
                        results[run] = result
                        if on_done is not None:
                            on_done(result)
            finally:
                await env.shutdown()

        await asyncio.gather(*(slot(i) for i in range(max(1, min(servers, len(scripts))))))
    return results


async def _run_in_processes(
    scenario: Scenario,
    runs: int,
    seed: int,
    *,
    processes: int,
    servers: int,
    on_done: Callable[[RunResult], None] | None,
) -> dict[int, RunResult]:
    """Fan the runs out to worker processes (``python -m exercises.sweep_worker``), one share each.

    The SDK's workflow machinery is CPU-bound Python: one process uses one core, so on a
    multi-core machine the runs go to several processes, each with its own servers.
    """
    results: dict[int, RunResult] = {}
    per_process = max(1, servers // processes)

    async def child(index: int) -> None:
        assigned = list(range(index, runs, processes))
        if not assigned:
            return
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "exercises.sweep_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        job = WorkerJob(
            scenario=scenario, seed=seed, total_runs=runs, runs=assigned, servers=per_process
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(job.model_dump_json(by_alias=False).encode())
        proc.stdin.close()
        async for line in proc.stdout:
            if not line.startswith(RESULT_PREFIX):
                continue  # anything else a library printed
            result = RunResult.model_validate_json(line[len(RESULT_PREFIX) :])
            results[result.run] = result
            if on_done is not None:
                on_done(result)
        errors = (await proc.stderr.read()).decode(errors="replace")
        code = await proc.wait()
        if code != 0 or len([r for r in assigned if r in results]) != len(assigned):
            raise RuntimeError(f"sweep worker {index} exited with {code}: {errors.strip()[-2000:]}")

    await asyncio.gather(*(child(i) for i in range(processes)))
    return results


RESULT_PREFIX = b"RESULT "


class WorkerJob(BaseModel):
    """What a sweep worker process is asked to run."""

    scenario: Scenario
    seed: int
    total_runs: int
    runs: list[int]
    servers: int


def default_processes(servers: int) -> int:
    return max(1, min(servers, os.cpu_count() or 1))


async def run_sweep(
    scenario: Scenario,
    *,
    runs: int,
    seed: int,
    parallel: int = DEFAULT_PARALLEL,
    processes: int | None = None,
    source: str = "",
    on_done: Callable[[RunResult], None] | None = None,
) -> SweepSummary:
    """``parallel`` time-skipping servers in all, spread over ``processes`` OS processes
    (default: one per core, at most one per server)."""
    started = time.perf_counter()
    processes = (
        default_processes(parallel) if processes is None else max(1, min(processes, parallel))
    )
    if processes == 1:
        scripts = dict(enumerate(draw_scripts(scenario, runs, seed)))
        results = await run_slots(
            scenario, scripts, servers=parallel, source=source, on_done=on_done
        )
    else:
        results = await _run_in_processes(
            scenario, runs, seed, processes=processes, servers=parallel, on_done=on_done
        )
    ordered = [results[i] for i in range(runs)]
    return summarize(
        scenario,
        source,
        ordered,
        seed=seed,
        parallel=parallel,
        wall_seconds=time.perf_counter() - started,
    )


def summarize(
    scenario: Scenario,
    source: str,
    results: list[RunResult],
    *,
    seed: int,
    parallel: int,
    wall_seconds: float,
) -> SweepSummary:
    window = scenario.plan_data.activation_window_hours
    activated = [r.activated_at_hours for r in results if r.activated_at_hours is not None]
    within = sum(1 for t in activated if t <= window)
    # Authorization needs the quorum, which needs verification: the first unmet step in plan
    # order is what held the run back; the later ones only followed from it.
    order = [d.name for d in scenario.plan_data.deadlines if d.required_for_activation]
    held = Counter(
        next(step for step in order if step in r.unmet)
        for r in results
        if r.outcome == str(Outcome.NOT_ACTIVATED) and any(step in r.unmet for step in order)
    )
    unmet_at_close = Counter(
        c for r in results if r.outcome == str(Outcome.NOT_ACTIVATED) for c in r.unmet
    )
    last = Counter(r.last_condition for r in results if r.last_condition is not None)
    return SweepSummary(
        scenario=scenario.name,
        source=source,
        runs=len(results),
        seed=seed,
        parallel=parallel,
        wall_seconds=round(wall_seconds, 2),
        window_hours=window,
        p_activated_within_window=round(within / len(results), 4) if results else 0.0,
        outcomes=dict(Counter(r.outcome for r in results).most_common()),
        time_to_activation=percentiles(activated),
        held_back=dict(held.most_common()),
        unmet_at_close=dict(unmet_at_close.most_common()),
        most_common_hold_back=held.most_common(1)[0][0] if held else None,
        last_condition=dict(last.most_common()),
        expectations_met=round(sum(r.expectations_met for r in results) / len(results), 4)
        if results
        else 0.0,
        results=results,
    )
