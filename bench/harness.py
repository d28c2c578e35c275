"""What the Temporal benchmarks share: a migrated temp database, the real worker, the bare
worker, and the drivers that walk one incident through the scenario on a time-skipping server."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.sinks import ExerciseSink
from bench.bare import BARE_UPDATE, BareInput, BareWorkflow, bare_noop
from bench.scenario import STEPS, incident
from db.migrate import upgrade_async
from foundation.settings import Settings
from worker import WorkerDependencies, build_worker
from workflows.names import UPDATE_COMMITMENT, UPDATE_DECISION, UPDATE_EVIDENCE
from workflows.starting import start_incident

UPDATE_NAMES = {
    "evidence": UPDATE_EVIDENCE,
    "commitment": UPDATE_COMMITMENT,
    "decision": UPDATE_DECISION,
}


@contextlib.asynccontextmanager
async def temp_sqlite() -> AsyncIterator[str]:
    """A migrated SQLite ledger in a temp directory, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="bench-"))
    url = f"sqlite+aiosqlite:///{directory / 'ledger.db'}"
    try:
        await upgrade_async(url)
        yield url
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def task_queue(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def engine_deps(database_url: str) -> AsyncIterator[tuple[Settings, WorkerDependencies]]:
    # A data directory of its own: a developer's contacts file must never reach real people.
    settings = Settings(database_url=database_url, data_dir=Path(tempfile.mkdtemp(prefix="bench-")))
    deps = WorkerDependencies.build(settings, sink=ExerciseSink(), exercise_sink=ExerciseSink())
    try:
        yield settings, deps
    finally:
        await deps.close()


def engine_worker(
    client: Client, queue: str, settings: Settings, deps: WorkerDependencies
) -> Worker:
    """The production worker, exactly as worker.py builds it."""
    return build_worker(client, queue, deps, settings)


def bare_worker(client: Client, queue: str) -> Worker:
    """A worker with Temporal's defaults and nothing of the engine."""
    return Worker(client, task_queue=queue, workflows=[BareWorkflow], activities=[bare_noop])


async def run_engine_scenario(env: WorkflowEnvironment, queue: str, n: int) -> int:
    """The full scenario through IncidentWorkflow on a time-skipping server; returns ledger rows."""
    handle = await start_incident(env.client, incident(n), queue, now=await env.get_current_time())
    await _walk(env, handle, lambda step: (UPDATE_NAMES[step.kind], step.payload))
    view = await handle.result()
    assert view.outcome is not None and view.persisted_seq == view.decisions_total, view.outcome
    return view.persisted_seq


async def run_bare_scenario(env: WorkflowEnvironment, queue: str, n: int) -> int:
    handle = await env.client.start_workflow(
        BareWorkflow.run,
        BareInput(updates_to_close=len(STEPS)),
        id=f"bare-{queue}-{n}",
        task_queue=queue,
    )
    await _walk(env, handle, lambda step: (BARE_UPDATE, step.payload))
    return await handle.result()


async def _walk(env: WorkflowEnvironment, handle: WorkflowHandle, message) -> None:
    elapsed = 0.0
    for step in STEPS:
        await env.sleep(timedelta(hours=step.at_hours - elapsed))
        elapsed = step.at_hours
        name, payload = message(step)
        await handle.execute_update(name, payload)
