"""``python -m bench.bare_worker ADDRESS TASK_QUEUE``: the bare baseline's worker in a process of
its own, so the scale benchmark can read its peak memory as it reads the engine worker's."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare import BareWorkflow, bare_noop
from foundation.settings import Settings


async def _serve(address: str, queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    settings = Settings()
    # The engine worker's cache and concurrency, so memory compares like with like.
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BareWorkflow],
        activities=[bare_noop],
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.max_concurrent_activities,
    ):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], sys.argv[2]))
    sys.stdout.flush()
    os._exit(0)
