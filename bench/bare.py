"""Bare Temporal: the baseline every ratio is measured against.

The same shape as the incident workflow with none of the engine: a main loop waiting on the
same deadlines with ``wait_condition(timeout=...)``, updates that wake it and answer once a
no-op activity ("the ledger write") has completed, timers that record with a no-op activity,
and the diplomatic dispatches as concurrent no-op activities. No plan logic, no search
attributes, no database: what is left is what Temporal itself costs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

BARE_WORKFLOW = "BareBaseline"
BARE_UPDATE = "touch"
TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@dataclass(frozen=True)
class BareInput:
    """Deadlines as plan hours after start, compressed by ``time_scale`` like the engine's clock."""

    deadline_hours: tuple[float, ...] = (12, 24, 48, 60, 72)
    # Deadlines at which the engine writes to the ledger (the others pass silently).
    recording_hours: tuple[float, ...] = (12, 60)
    dispatch_at_hours: float = 12  # when the diplomatic steps go out
    dispatches: int = 3
    record_dispatches: bool = True  # a ledger write per dispatch, or folded into other batches
    updates_to_close: int = 24  # the last update closes the incident, as an authorization does
    time_scale: float = 1.0
    anchor: datetime | None = None  # T0 for the deadlines; the workflow start when absent


@activity.defn(name="bare_noop")
async def bare_noop(payload: str) -> str:
    return payload


@workflow.defn(name=BARE_WORKFLOW)
class BareWorkflow:
    @workflow.init
    def __init__(self, spec: BareInput) -> None:
        self._spec = spec
        self._updates = 0
        self._wake = False
        self._closed = False
        self._dispatches: list[asyncio.Task[Any]] = []

    @workflow.run
    async def run(self, spec: BareInput) -> int:
        start = spec.anchor or workflow.now()
        await self._record("reported")
        for hours in spec.deadline_hours:
            due = start + timedelta(hours=hours / spec.time_scale)
            while not self._closed and workflow.now() < due:
                self._wake = False
                try:
                    await workflow.wait_condition(lambda: self._wake, timeout=due - workflow.now())
                except TimeoutError:
                    break
            if self._closed:
                break
            if hours in spec.recording_hours:
                await self._record(f"deadline {hours}")
            if hours == spec.dispatch_at_hours:
                self._dispatches = [
                    asyncio.create_task(self._dispatch(i)) for i in range(spec.dispatches)
                ]
        await asyncio.gather(*self._dispatches)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._updates

    @workflow.update(name=BARE_UPDATE)
    async def touch(self, payload: dict[str, Any]) -> str:
        self._updates += 1
        await self._record("update")
        if self._updates >= self._spec.updates_to_close:
            self._closed = True
        self._wake = True
        return "ok"

    async def _dispatch(self, step: int) -> None:
        await workflow.execute_activity(
            bare_noop, f"dispatch {step}", start_to_close_timeout=TIMEOUT, retry_policy=RETRY
        )
        if self._spec.record_dispatches:
            await self._record(f"dispatched {step}")

    async def _record(self, what: str) -> None:
        await workflow.execute_activity(
            bare_noop, what, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
        )
