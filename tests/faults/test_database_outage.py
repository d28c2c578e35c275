"""The database is unreachable for 30 s (every connection dropped, new ones refused, by a proxy in
front of PostgreSQL) while the incidents take their inputs: the workers' ledger writes and the
API's requests fail and are retried; once it is back, everything lands, once."""

from __future__ import annotations

import asyncio

from tests.faults.crew import Crew
from tests.faults.stack import Stack, assert_clean, engine_stack, run_fault_test

SEED = 8
WINDOW_SECONDS = 110.0  # the outage, the ledger retry back-off after it (up to 30 s), and the inputs queued behind it
OUTAGE_SECONDS = 30.0


async def cut_the_database(stack: Stack, crew: Crew) -> None:
    await stack.after_reports(crew, 1.0)
    stack.proxy.cut()
    stack.note(
        f"database cut off: {stack.proxy.dropped} connections dropped ({crew.in_flight} requests in flight)"
    )
    await asyncio.sleep(OUTAGE_SECONDS)
    stack.proxy.restore()
    stack.note(f"database back: {stack.proxy.refused} connections refused meanwhile")


async def test_the_database_unreachable_for_30_seconds(tmp_path):
    async with engine_stack(tmp_path, WINDOW_SECONDS) as stack:
        result = await run_fault_test(
            stack, "Database unreachable for 30 s", cut_the_database, seed=SEED
        )
        assert_clean(result, stack)
        assert stack.proxy.refused > 0, "nothing tried the database during the outage"
        assert result.activity_attempts_failed > 0, (
            "no ledger write failed: the outage missed the workers"
        )
