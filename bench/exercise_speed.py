"""Benchmark 1: the 72-hour scenario on the time-skipping server, engine vs bare Temporal.

Per scenario: one server, the engine's worker and the bare worker side by side, runs
interleaved so both see the same machine load; the median wall time of each. Sweep: many
scenarios spread over OS processes with a time-skipping server each (one server has one clock,
so one scenario at a time), as ``contingency exercise sweep`` spreads them.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from temporalio.testing import WorkflowEnvironment

from bench import harness
from bench.report import Result, ratio
from bench.scenario import STEPS
from exercises.sweep_temporal import default_processes
from workflows.servers import start_time_skipping

_numbers = itertools.count(1)  # incident numbers are unique across the run: they share one ledger


async def _per_scenario(runs: int) -> tuple[list[float], list[float], int]:
    env = await start_time_skipping()
    engine_q, bare_q = harness.task_queue("engine"), harness.task_queue("bare")
    try:
        async with harness.temp_sqlite() as url, harness.engine_deps(url) as (settings, deps):
            async with (
                harness.engine_worker(env.client, engine_q, settings, deps),
                harness.bare_worker(env.client, bare_q),
            ):
                engine, bare, rows = [], [], 0
                for i in range(runs + 1):  # the first pair warms up imports, caches and connections
                    started = time.perf_counter()
                    rows = await harness.run_engine_scenario(env, engine_q, next(_numbers))
                    engine_s = time.perf_counter() - started
                    started = time.perf_counter()
                    await harness.run_bare_scenario(env, bare_q, next(_numbers))
                    bare_s = time.perf_counter() - started
                    if i:
                        engine.append(engine_s)
                        bare.append(bare_s)
                return engine, bare, rows
    finally:
        await env.shutdown()


Runner = Callable[[WorkflowEnvironment, str, int], Awaitable[int]]


async def _sweep_lane(share: int, bare: bool, barrier: Barrier) -> tuple[float, float]:
    """One process's share of a sweep on its own server and worker: (start, end) monotonic."""
    env = await start_time_skipping()
    run: Runner = harness.run_bare_scenario if bare else harness.run_engine_scenario
    queue = harness.task_queue("sweep")
    try:
        async with harness.temp_sqlite() as url, harness.engine_deps(url) as (settings, deps):
            worker = (
                harness.bare_worker(env.client, queue)
                if bare
                else harness.engine_worker(env.client, queue, settings, deps)
            )
            async with worker:
                # Every process starts its runs at once, set up and warm: start-up is not timed.
                await run(env, queue, next(_numbers))
                await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
                started = time.monotonic()
                for _ in range(share):
                    await run(env, queue, next(_numbers))
                return started, time.monotonic()
    finally:
        await env.shutdown()


def _sweep_process(share: int, bare: bool, barrier: Barrier, results: Queue) -> None:
    from foundation.logging import configure_logging

    configure_logging("console", "WARNING")
    try:
        results.put(asyncio.run(_sweep_lane(share, bare, barrier)))
    except BaseException as exc:  # noqa: BLE001 (reported to the parent, which raises)
        barrier.abort()
        results.put(f"{type(exc).__name__}: {exc}")
    results.close()
    results.join_thread()
    os._exit(0)  # sdk-python#300: no interpreter teardown with SDK threads about


def _sweep(total: int, processes: int, bare: bool) -> float:
    """Wall seconds for ``total`` scenarios over ``processes`` OS processes, one server each: the
    layout ``contingency exercise sweep`` uses on this machine (exercises/sweep.py)."""
    context = multiprocessing.get_context("spawn")  # no fork of a process running SDK threads
    barrier, results = context.Barrier(processes), context.Queue()
    shares = [total // processes + (i < total % processes) for i in range(processes)]
    children = [
        context.Process(target=_sweep_process, args=(share, bare, barrier, results))
        for share in shares
    ]
    for child in children:
        child.start()
    try:
        lanes = [results.get(timeout=900) for _ in children]
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    failures = [lane for lane in lanes if isinstance(lane, str)]
    if failures:
        raise RuntimeError(f"sweep process failed: {failures[0]}")
    return max(end for _, end in lanes) - min(start for start, _ in lanes)


async def run(
    quick: bool, runs: int | None = None, sweep: int | None = None, processes: int | None = None
) -> Result:
    runs = runs or (2 if quick else 10)
    sweep = sweep if sweep is not None else (4 if quick else 200)
    processes = processes or default_processes(2)
    result = Result(
        "exercise",
        "Exercise speed: the 72-hour scenario on the time-skipping server",
        params={"updates": len(STEPS), "runs": runs, "sweep": sweep, "sweep_processes": processes},
    )
    engine, bare, rows = await _per_scenario(runs)
    e, b = statistics.median(engine), statistics.median(bare)
    result.add(
        "wall per scenario (median)",
        round(e, 3),
        "s",
        baseline=round(b, 3),
        ratio=ratio(e, b),
        target="<= 1.5",
    )
    result.add("ledger rows per scenario", rows)
    if sweep:
        loop = asyncio.get_running_loop()
        engine_sweep = await loop.run_in_executor(None, _sweep, sweep, processes, False)
        bare_sweep = await loop.run_in_executor(None, _sweep, sweep, processes, True)
        result.add(
            f"sweep of {sweep} scenarios",
            round(engine_sweep, 2),
            "s",
            baseline=round(bare_sweep, 2),
            ratio=ratio(engine_sweep, bare_sweep),
        )
        # The 60 s target is for 200 runs; a shorter sweep is scaled to it.
        projected = engine_sweep * 200 / sweep
        result.add(
            "sweep, 200 scenarios" + ("" if sweep == 200 else " (projected)"),
            round(projected, 1),
            "s",
            target="<= 60",
        )
    result.notes.append(
        "ratio = engine / bare (lower is better); bare = bench/bare.py: same timers, updates and "
        "no-op activities, no plan logic, no database"
    )
    return result
