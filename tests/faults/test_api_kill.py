"""The API process is killed (SIGKILL) twice while requests are in flight and started again;
the clients retry with the same report_id and the same Idempotency-Key."""

from __future__ import annotations

import asyncio
import random

from tests.faults.crew import Crew
from tests.faults.stack import Stack, assert_clean, engine_stack, run_fault_test

SEED = 9
WINDOW_SECONDS = 45.0


async def kill_the_api_twice(stack: Stack, crew: Crew) -> None:
    rng = random.Random(SEED)
    # The first kill lands among the 20 reports, the second among the updates that follow.
    for kill in (1, 2):
        if kill == 1:
            while crew.in_flight < 5:
                await asyncio.sleep(0.01)
        else:
            await stack.after_reports(crew, rng.uniform(0.5, 2.0))
            while crew.in_flight == 0:
                await asyncio.sleep(0.01)
        in_flight = crew.in_flight
        await stack.api.kill()
        stack.note(f"SIGKILL api with {in_flight} requests in flight")
        await asyncio.sleep(rng.uniform(0.5, 1.5))
        took = await stack.api.start_and_wait()
        stack.note(f"api restarted (up in {took:.1f}s)")


async def test_the_api_killed_with_requests_in_flight(tmp_path):
    async with engine_stack(tmp_path, WINDOW_SECONDS) as stack:
        result = await run_fault_test(
            stack, "API SIGKILLed 2x mid-request", kill_the_api_twice, seed=SEED
        )
        assert_clean(result, stack)
        assert result.client_retries > 0, "no request was interrupted"
