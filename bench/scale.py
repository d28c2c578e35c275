"""Benchmark 4: thousands of incidents open at once on one worker, waiting on their deadlines.

Every incident shares one T0 and is a ceasefire breach nobody corroborates: it waits on its
verification deadline (one durable timer), which falls due for all of them together once they are
all open; each then closes unverified. The worker runs in a process of its own (``worker.main``,
configured by the environment as in production) so its peak RSS (VmHWM) is its own; the bare
baseline does the same with one timer and the same two activities in its own worker process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from temporalio.client import Client

from bench import harness
from bench.bare import BareInput, BareWorkflow
from bench.end_to_end import _bounded
from bench.report import Result, ratio
from db.models import LedgerDecision
from db.session import create_engine, session_factory
from plans.loader import get_plan
from workflows.decisions import DecisionKind
from workflows.messages import ViolationReport
from workflows.servers import start_dev_server
from workflows.starting import build_input, start_incident

ROOT = Path(__file__).resolve().parent.parent
VERIFICATION_HOURS = 12
GIB = 1024**3


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen) -> int:
    """Peak RSS in bytes, read just before the process is asked to stop."""
    peak = _status_kib(proc.pid, "VmHWM") * 1024
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return peak


async def _wait_for(count: Callable[[], Awaitable[int]], target: int, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while (await count()) < target:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {await count()} of {target} after {timeout:.0f} s")
        await asyncio.sleep(0.25)
    return time.perf_counter()


async def _engine(
    client: Client, address: str, url: str, n: int, deadline_s: float, concurrency: int
) -> dict:
    queue = harness.task_queue("scale")
    proc = _spawn(
        [sys.executable, "-c", "import worker; worker.main()"],
        {
            "TEMPORAL_ADDRESS": address,
            "DATABASE_URL": url,
            "CONTINGENCY_TASK_QUEUE": queue,
            "CONTINGENCY_LOG_LEVEL": "WARNING",
            "CONTINGENCY_NOTIFICATION_SINK": "exercise",
        },
    )
    engine = create_engine(url)
    sessions = session_factory(engine)

    async def rows(kind: str) -> int:
        async with sessions() as session:
            return await session.scalar(
                select(func.count()).select_from(LedgerDecision).where(LedgerDecision.kind == kind)
            )

    plan = get_plan("allied-72h")
    scale = VERIFICATION_HOURS * 3600 / deadline_s
    t0 = datetime.now(UTC)

    async def one(i: int) -> None:
        report = ViolationReport(
            report_id=f"scale-{i}",
            kind="ceasefire_breach",
            sector=f"sector-{i % 97}",
            reported_by="observer-mission",
            observed_at=t0,
        )
        await start_incident(
            client, build_input(report, plan, exercise=True, time_scale=scale), queue, now=t0
        )

    try:
        # One incident first, so the clock starts once the worker process is up and serving.
        await one(-1)
        await _wait_for(lambda: rows(DecisionKind.REPORTED), 1, timeout=120)
        started = time.perf_counter()
        t0 = datetime.now(UTC)
        await _bounded(n, concurrency, one)
        with_warm = n + 1
        opened = await _wait_for(
            lambda: rows(DecisionKind.REPORTED), with_warm, timeout=deadline_s + 600
        )
        due = started + deadline_s
        done = await _wait_for(
            lambda: rows(DecisionKind.UNVERIFIED_CLOSED),
            with_warm,
            timeout=max(due - time.perf_counter(), 0) + 600,
        )
        closed = await rows(DecisionKind.UNVERIFIED_CLOSED)
    finally:
        peak = _stop(proc)
        await engine.dispose()
    return {
        "peak": peak,
        "open_s": opened - started,
        "after_deadline_s": done - max(due, opened),
        "all_open_before_deadline": opened <= due,
        "closed": closed - 1,
    }


async def _bare(client: Client, address: str, n: int, deadline_s: float, concurrency: int) -> dict:
    queue = harness.task_queue("scale-bare")
    proc = _spawn([sys.executable, "-m", "bench.bare_worker", address, queue], {})
    spec = BareInput(
        deadline_hours=(VERIFICATION_HOURS,),
        recording_hours=(VERIFICATION_HOURS,),
        dispatches=0,
        dispatch_at_hours=-1,
        time_scale=VERIFICATION_HOURS * 3600 / deadline_s,
    )
    handles = []

    async def one(i: int) -> None:
        handles.append(
            await client.start_workflow(BareWorkflow.run, spec, id=f"{queue}-{i}", task_queue=queue)
        )

    try:
        warm = await client.start_workflow(
            BareWorkflow.run,
            BareInput(deadline_hours=(), dispatches=0),
            id=f"{queue}-warm",
            task_queue=queue,
        )
        await warm.result()
        started = time.perf_counter()
        spec = dataclasses.replace(spec, anchor=datetime.now(UTC))
        await _bounded(n, concurrency, one)

        # A bounded number of result long-polls: the dev server refuses thousands at once.
        async def result(i: int) -> None:
            await handles[i].result()

        await _bounded(len(handles), concurrency, result)
        done = time.perf_counter()
    finally:
        peak = _stop(proc)
    return {"peak": peak, "after_deadline_s": done - (started + deadline_s), "closed": len(handles)}


async def run(
    quick: bool,
    incidents: int | None = None,
    deadline_s: float | None = None,
    concurrency: int = 32,
) -> Result:
    n = incidents or (30 if quick else 5000)
    # The shared deadline falls once every incident should be open (measured, and reported if not).
    deadline_s = deadline_s or (5.0 if quick else 30 + n * 0.035)
    result = Result(
        "scale",
        f"Scale: {n:,} incidents open at once on one worker, waiting on their deadline",
        params={
            "incidents": n,
            "deadline_after_s": round(deadline_s, 1),
            "start_concurrency": concurrency,
        },
    )
    env = await start_dev_server()
    address = env.client.service_client.config.target_host
    try:
        async with harness.temp_sqlite() as url:
            engine = await _engine(env.client, address, url, n, deadline_s, concurrency)
        bare = await _bare(env.client, address, n, deadline_s, concurrency)
    finally:
        await env.shutdown()
    result.add(
        "worker peak RSS",
        round(engine["peak"] / 2**20, 1),
        "MiB",
        baseline=round(bare["peak"] / 2**20, 1),
        ratio=ratio(engine["peak"], bare["peak"]),
    )
    result.add("worker peak RSS", round(engine["peak"] / GIB, 3), "GiB", target="< 1.5")
    result.add("time to open all", round(engine["open_s"], 1), "s")
    result.add(
        "completion after the deadline",
        round(engine["after_deadline_s"], 2),
        "s",
        baseline=round(bare["after_deadline_s"], 2),
        ratio=ratio(engine["after_deadline_s"], bare["after_deadline_s"]),
    )
    result.add("incidents closed (ledger)", engine["closed"], baseline=bare["closed"])
    result.add("incidents lost", n - engine["closed"], target="<= 0")
    if not engine["all_open_before_deadline"]:
        result.notes.append(
            "not every incident was open when the deadline fell: the completion time includes opening"
        )
    result.notes.append(
        "ratio = engine / bare (lower is better for memory and time); bare worker: same cache size"
    )
    return result
