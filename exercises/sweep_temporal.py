"""Sweep runs through the real workflow on time-skipping servers: the conformance sample of a
sweep, or every run of one with ``--temporal``.

The time-skipping server has one clock per environment, so runs go to a pool of servers, each
with its own worker and ledger, each running one scenario at a time. The SDK's workflow
machinery is CPU-bound Python, so the pool is spread over worker processes
(``python -m exercises.sweep_worker``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from exercises.scenario import Scenario
from exercises.script import build_script
from exercises.sweep_results import RunResult, error_result, summarize_run

# Measured on 2 cores, 100 runs of sweep-allies-slow while other jobs shared the machine: one
# server 51 s; two servers in one process 52 s (the Python side is the bottleneck); two processes
# with one server each 43 s; three processes 48 s; four servers over two processes 49 s.
DEFAULT_PARALLEL = 2
# A run through the workflow takes well under a second here: one that takes minutes is stuck.
RUN_TIMEOUT = 120.0


async def run_slots(
    scenario: Scenario,
    seeds: dict[int, int],
    *,
    servers: int,
    source: str = "",
    on_done: Callable[[RunResult], None] | None = None,
    run_timeout: float = RUN_TIMEOUT,
) -> dict[int, RunResult]:
    """Run the scripts of ``seeds`` (run -> seed) on ``servers`` time-skipping servers here.

    A run with no outcome after ``run_timeout`` seconds is an error result (the sweep then fails
    and names it) and its server takes no more runs: its one clock may be held by the stuck run.
    """
    # The SDK, the worker and the ledger take seconds to import: only a process that runs the
    # workflow pays for them, not a sweep that hands its sample to worker processes.
    from db.migrate import upgrade_async
    from exercises.runner import SkippingClock, exercise_worker, run_script, scratch_dir
    from workflows.servers import start_time_skipping

    queue: asyncio.Queue[int] = asyncio.Queue()
    for run in sorted(seeds):
        queue.put_nowait(run)
    results: dict[int, RunResult] = {}

    def done(result: RunResult) -> None:
        results[result.run] = result
        if on_done is not None:
            on_done(result)

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
                # Without the sandbox: the same workflow code, a quarter less of each run.
                async with exercise_worker(
                    env.client, f"sqlite+aiosqlite:///{path}", queue_name, sandboxed=False
                ) as worker:
                    while not queue.empty():
                        run = queue.get_nowait()
                        script = build_script(scenario, seeds[run])
                        try:
                            report = await asyncio.wait_for(
                                run_script(
                                    worker, scenario, script, SkippingClock(env), source=source
                                ),
                                run_timeout,
                            )
                            result = summarize_run(run, report, scenario.plan_data, script.drawn)
                        except TimeoutError:
                            done(error_result(run, RunTimedOut(run_timeout), script.drawn))
                            return
                        except Exception as exc:  # noqa: BLE001 (one broken run must not sink the sweep)
                            result = error_result(run, exc, script.drawn)
                        done(result)
            finally:
                await env.shutdown()

        await asyncio.gather(*(slot(i) for i in range(max(1, min(servers, len(seeds))))))
        # Every server stopped on a stuck run: what is left is not run, and said so.
        while not queue.empty():
            run = queue.get_nowait()
            drawn = build_script(scenario, seeds[run]).drawn
            done(error_result(run, NotRun("every server stopped on a stuck run"), drawn))
    return results


class RunTimedOut(TimeoutError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"no outcome after {seconds:g} s through the workflow (stuck?)")


class NotRun(RuntimeError):
    pass


RESULT_PREFIX = b"RESULT "


class WorkerJob(BaseModel):
    """What a sweep worker process is asked to run: runs by number, each with its seed."""

    scenario: Scenario
    seeds: dict[int, int]
    servers: int


async def _run_in_processes(
    scenario: Scenario,
    seeds: dict[int, int],
    *,
    processes: int,
    servers: int,
    on_done: Callable[[RunResult], None] | None,
) -> dict[int, RunResult]:
    """Fan the runs out to worker processes, one share each."""
    results: dict[int, RunResult] = {}
    per_process = max(1, servers // processes)
    runs = sorted(seeds)

    async def child(index: int) -> None:
        assigned = runs[index::processes]
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
            scenario=scenario, seeds={r: seeds[r] for r in assigned}, servers=per_process
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        # Read while the runs go on: a worker (or its server, which shares its stderr) that
        # fills the pipe would otherwise block on its next write, and the sweep with it.
        errors = asyncio.create_task(_tail(proc.stderr))
        proc.stdin.write(job.model_dump_json(by_alias=False).encode())
        proc.stdin.close()
        async for line in proc.stdout:
            if not line.startswith(RESULT_PREFIX):
                continue  # anything else a library printed
            result = RunResult.model_validate_json(line[len(RESULT_PREFIX) :])
            results[result.run] = result
            if on_done is not None:
                on_done(result)
        code = await proc.wait()
        stderr = await errors
        if code != 0 or len([r for r in assigned if r in results]) != len(assigned):
            raise RuntimeError(f"sweep worker {index} exited with {code}: {stderr.strip()}")

    await asyncio.gather(*(child(i) for i in range(processes)))
    return results


async def _tail(stream: asyncio.StreamReader, keep: int = 2000) -> str:
    """Everything ``stream`` says until it closes, of which the last ``keep`` characters."""
    kept = b""
    while chunk := await stream.read(65536):
        kept = (kept + chunk)[-4 * keep :]
    return kept.decode(errors="replace")[-keep:]


def default_processes(servers: int) -> int:
    return max(1, min(servers, os.cpu_count() or 1))


async def run_temporal(
    scenario: Scenario,
    seeds: dict[int, int],
    *,
    parallel: int = DEFAULT_PARALLEL,
    processes: int | None = None,
    source: str = "",
    on_done: Callable[[RunResult], None] | None = None,
) -> dict[int, RunResult]:
    """The runs of ``seeds`` (run -> seed) through the workflow: ``parallel`` time-skipping
    servers in all over ``processes`` OS processes (default: one per core, at most one per
    server)."""
    processes = (
        default_processes(parallel) if processes is None else max(1, min(processes, parallel))
    )
    if not seeds:
        return {}
    if processes == 1:
        return await run_slots(scenario, seeds, servers=parallel, source=source, on_done=on_done)
    return await _run_in_processes(
        scenario, seeds, processes=processes, servers=parallel, on_done=on_done
    )
