"""The Temporal dev server is stopped while the incidents take their inputs, and started again on
its database file: timers due meanwhile fire late, requests fail and are retried, nothing is lost."""

from __future__ import annotations

import asyncio
import time

from tests.faults.crew import Crew
from tests.faults.stack import Stack, assert_clean, engine_stack, run_fault_test

SEED = 7
WINDOW_SECONDS = 45.0
DOWN_SECONDS = 5.0


async def restart_temporal(stack: Stack, crew: Crew) -> None:
    await stack.after_reports(crew, 1.5)
    began = time.monotonic()
    await stack.temporal.stop()
    stack.note(f"stopped the Temporal server ({crew.in_flight} requests in flight)")
    await asyncio.sleep(DOWN_SECONDS)
    took = await stack.temporal.start_and_wait()
    stack.note(
        f"Temporal back on {stack.temporal.db_file.name} after {time.monotonic() - began:.1f}s (start {took:.1f}s)"
    )


async def test_the_temporal_server_stopped_and_restarted(tmp_path):
    async with engine_stack(tmp_path, WINDOW_SECONDS) as stack:
        result = await run_fault_test(
            stack, "Temporal server stopped and restarted", restart_temporal, seed=SEED
        )
        assert_clean(result, stack)
        assert stack.temporal.starts == 2
