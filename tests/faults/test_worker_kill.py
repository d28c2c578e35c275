"""Two workers serve the task queue; one is killed with SIGKILL three times, at seeded random
moments while the incidents are taking their inputs, and started again each time."""

from __future__ import annotations

import asyncio
import random
import time

from tests.faults.crew import Crew
from tests.faults.stack import Stack, assert_clean, engine_stack, run_fault_test

SEED = 6
WINDOW_SECONDS = 45.0  # 72 plan hours


async def kill_a_worker_three_times(stack: Stack, crew: Crew) -> None:
    rng = random.Random(SEED)
    victim = stack.workers[0]
    # One kill in each third of the input phase, each on a worker up for a while by then.
    await stack.after_reports(crew, 0.0)
    began = time.monotonic()
    for start in (0.0, 5.0, 10.0):
        await asyncio.sleep(max(0.0, began + start + rng.uniform(0.0, 3.0) - time.monotonic()))
        await victim.kill()
        stack.note(f"SIGKILL {victim.name} ({crew.in_flight} requests in flight)")
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        await victim.start()
        stack.note(f"restarted {victim.name}")


async def test_a_worker_killed_three_times(tmp_path):
    async with engine_stack(tmp_path, WINDOW_SECONDS) as stack:
        result = await run_fault_test(
            stack, "Worker SIGKILLed 3x", kill_a_worker_three_times, seed=SEED
        )
        assert_clean(result, stack)
        assert sum("SIGKILL" in e for e in result.fault_events) == 3
