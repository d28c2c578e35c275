"""Benchmark 3: incidents through the whole plan on the dev server, the plan clock compressed.

Each incident arrives with corroborating evidence (verified at once, three diplomatic steps go
out), three allies commit by update right after the start (quorum), nobody authorizes: the
authorization deadline lapses and escalates at T0+60h and the window closes at T0+72h. The bare
baseline waits on the same deadlines on the same compressed clock, takes the same updates and
runs the same number of no-op activities.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from bench import harness
from bench.bare import BARE_UPDATE, BareInput, BareWorkflow
from bench.report import Result, ratio
from db.models import LedgerDecision
from db.session import session_factory
from plans.loader import get_plan
from workflows.messages import Answer, CommitmentInput, Evidence, ViolationReport
from workflows.names import UPDATE_COMMITMENT
from workflows.servers import start_dev_server
from workflows.starting import build_input, start_incident

PLAN_HOURS = 72
LATE: list[int] = []  # incidents whose window closed before their updates landed
COMMITMENTS = (
    CommitmentInput(party="us", answer=Answer.COMMIT, assets=("air",)),
    CommitmentInput(party="pl", answer=Answer.COMMIT, assets=("ground",)),
    CommitmentInput(party="fr", answer=Answer.COMMIT, assets=("naval",)),
)
# The engine's shape on this path (checked in the notes): the ledger writes at the start, per update,
# per dispatch, when authorization lapses (60) and when the window closes (72).
BARE_SPEC = {
    "deadline_hours": (0, 12, 24, 48, 60, 72),
    "recording_hours": (60, 72),
    "dispatch_at_hours": 0,
    "dispatches": 3,
    "updates_to_close": 10**9,
}


async def _bounded(n: int, concurrency: int, job: Callable[[int], Awaitable[None]]) -> None:
    todo = iter(range(n))

    async def lane() -> None:
        for i in todo:
            await job(i)

    await asyncio.gather(*(lane() for _ in range(concurrency)))


async def _engine_batch(
    client: Client, queue: str, n: int, scale: float, concurrency: int, tag: str
) -> list[WorkflowHandle]:
    plan = get_plan("allied-72h")
    handles: list[WorkflowHandle] = [None] * n  # type: ignore[list-item]

    async def one(i: int) -> None:
        report = ViolationReport(
            report_id=f"e2e-{tag}-{i}",
            kind="large_scale_offensive",
            sector=f"sector-{i % 17}",
            reported_by="observer-mission",
            summary="armour crossing",
            evidence=(Evidence("allied-isr", "imagery"),),
        )
        handle = await start_incident(
            client,
            build_input(report, plan, exercise=True, time_scale=scale),
            queue,
            now=datetime.now(UTC),
        )
        for commitment in COMMITMENTS:
            try:
                await handle.execute_update(UPDATE_COMMITMENT, commitment)
            except WorkflowUpdateFailedError:
                LATE.append(i)  # the window closed first: the machine is slower than the clock
                break
        handles[i] = handle

    await _bounded(n, concurrency, one)
    return handles


async def _bare_batch(
    client: Client, queue: str, n: int, scale: float, concurrency: int, tag: str
) -> list[WorkflowHandle]:
    handles: list[WorkflowHandle] = [None] * n  # type: ignore[list-item]

    async def one(i: int) -> None:
        handle = await client.start_workflow(
            BareWorkflow.run,
            BareInput(time_scale=scale, **BARE_SPEC),
            id=f"bare-{tag}-{i}",
            task_queue=queue,
        )
        for commitment in COMMITMENTS:
            await handle.execute_update(BARE_UPDATE, commitment)
        handles[i] = handle

    await _bounded(n, concurrency, one)
    return handles


async def _timed(batch: Awaitable[list[WorkflowHandle]]) -> tuple[float, list[WorkflowHandle]]:
    started = time.perf_counter()
    handles = await batch
    await asyncio.gather(*(h.result() for h in handles))
    return time.perf_counter() - started, handles


async def _shape(handle: WorkflowHandle) -> str:
    """Activities and timers in one history: evidence that the baseline has the engine's shape."""
    counts: collections.Counter[str] = collections.Counter()
    async for event in handle.fetch_history_events():
        counts[EventType.Name(event.event_type)] += 1
    return (
        f"{counts['EVENT_TYPE_ACTIVITY_TASK_SCHEDULED']} activities, {counts['EVENT_TYPE_TIMER_STARTED']} timers, "
        f"{counts['EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED']} updates, "
        f"{counts['EVENT_TYPE_WORKFLOW_TASK_COMPLETED']} workflow tasks"
    )


async def run(
    quick: bool,
    incidents: int | None = None,
    plan_seconds: float | None = None,
    concurrency: int = 32,
) -> Result:
    n = incidents or (10 if quick else 200)
    # Long enough that every incident's updates land before its window closes under load.
    plan_seconds = plan_seconds or max(6.0, n / 10)
    scale = PLAN_HOURS * 3600 / plan_seconds
    result = Result(
        "e2e",
        "End to end: incidents through the full plan on the dev server (compressed clock)",
        params={
            "incidents": n,
            "plan_72h_in_s": plan_seconds,
            "concurrency": concurrency,
            "updates_each": len(COMMITMENTS),
        },
    )
    LATE.clear()
    env = await start_dev_server()
    engine_q, bare_q = harness.task_queue("e2e"), harness.task_queue("e2e-bare")
    try:
        async with harness.temp_sqlite() as url, harness.engine_deps(url) as (settings, deps):
            async with (
                harness.engine_worker(env.client, engine_q, settings, deps),
                harness.bare_worker(env.client, bare_q),
            ):
                await _timed(_engine_batch(env.client, engine_q, 3, scale, 3, "warm"))
                await _timed(_bare_batch(env.client, bare_q, 3, scale, 3, "warm"))
                async with session_factory(deps.engine)() as session:
                    rows_before = await session.scalar(
                        select(func.count()).select_from(LedgerDecision)
                    )
                engine_s, engine_handles = await _timed(
                    _engine_batch(env.client, engine_q, n, scale, concurrency, "run")
                )
                async with session_factory(deps.engine)() as session:
                    rows = (
                        await session.scalar(select(func.count()).select_from(LedgerDecision))
                        - rows_before
                    )
                bare_s, bare_handles = await _timed(
                    _bare_batch(env.client, bare_q, n, scale, concurrency, "run")
                )
                engine_shape, bare_shape = (
                    await _shape(engine_handles[0]),
                    await _shape(bare_handles[0]),
                )
    finally:
        await env.shutdown()
    e, b = n / engine_s, n / bare_s
    result.add(
        "incidents completed",
        round(e, 2),
        "/s",
        baseline=round(b, 2),
        ratio=ratio(e, b),
        target=">= 0.7",
    )
    result.add("wall time, all incidents", round(engine_s, 2), "s", baseline=round(bare_s, 2))
    result.add("ledger rows written", round(rows / engine_s, 1), "rows/s")
    result.add("incidents closed before their updates landed", len(LATE), target="<= 0")
    result.notes += [
        "ratio = engine / bare throughput (higher is better); the clock floor is one plan "
        f"({plan_seconds:g} s) for both",
        f"one engine incident: {engine_shape}; one bare: {bare_shape}; {rows / n:.1f} ledger rows per incident",
    ]
    return result
