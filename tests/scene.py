"""The operators' view, tested on the real dev server: a scene of incidents in known states,
kept running by a worker for the whole module, on a database of its own.

Late reports put incidents into later phases at once, without waiting: a report observed 30 h
ago has already lapsed verification (presumed, level 2) and missed the quorum deadline.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.sinks import ExerciseSink
from db.migrate import upgrade_async
from db.models import Incident
from db.session import create_engine, session_factory
from db.tokens import create_token
from foundation.settings import Settings
from plans.loader import get_plan
from worker import WorkerDependencies, build_worker
from workflows.incident import IncidentWorkflow
from workflows.messages import ViolationReport
from workflows.starting import build_input, start_incident

SETTLE_TIMEOUT = 20.0


@dataclass
class Scene:
    client: Client
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    handles: dict[str, WorkflowHandle]
    observer_token: str

    @property
    def task_queue(self) -> str:
        return self.settings.task_queue

    def wid(self, name: str) -> str:
        return self.handles[name].id

    def incident_id(self, name: str) -> str:
        return self.handles[name].id.removeprefix("incident-")


# name: (kind, sector, hours observed before the report, exercise)
SCENE = {
    "consultation": ("large_scale_offensive", "Zaporizhzhia", 30.0, False),
    "fresh": ("large_scale_offensive", "Donetsk", 0.05, False),
    "drill": ("limited_incursion", "Kharkiv", 1.0, True),
    "closed": ("ceasefire_breach", "Luhansk", 80.0, False),
}


async def wait_for(predicate, timeout: float = SETTLE_TIMEOUT, what: str = "condition"):
    """Poll an async predicate until it returns something truthy (visibility is eventually consistent)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def scene(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Scene]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('operators') / 'scene.db'}"
    await upgrade_async(url)
    settings = Settings(
        database_url=url,
        task_queue=f"tq-ops-{uuid.uuid4().hex[:10]}",
        temporal_ui_url="http://ui.test:8233",
    )
    engine = create_engine(url)
    sessions = session_factory(engine)
    deps = WorkerDependencies.build(settings, sink=ExerciseSink(), exercise_sink=ExerciseSink())
    async with AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        stack.push_async_callback(deps.close)
        await stack.enter_async_context(
            build_worker(dev_env.client, settings.task_queue, deps, settings)
        )
        now = datetime.now(UTC)
        handles: dict[str, WorkflowHandle] = {}
        for name, (kind, sector, hours, exercise) in SCENE.items():
            report = ViolationReport(
                report_id=f"ops-{name}-{uuid.uuid4().hex}",
                kind=kind,
                sector=sector,
                reported_by="ua-general-staff",
                summary=f"{kind} reported for the operators' tests",
                observed_at=now - timedelta(hours=hours),
                reported_at=now,
            )
            plan_input = build_input(report, get_plan(), exercise=exercise)
            handles[name] = await start_incident(
                dev_env.client, plan_input, settings.task_queue, now=now
            )
        await handles["closed"].result()

        async def settled() -> bool:
            async with sessions() as session:
                for name in ("consultation", "fresh", "drill"):
                    row = await session.get(Incident, handles[name].id.removeprefix("incident-"))
                    if row is None:
                        return False
                    view = await handles[name].query(IncidentWorkflow.state)
                    if view.persisted_seq < len(view.timeline):
                        return False
            return True

        await wait_for(settled, what="the scene's ledger rows")
        token = await create_token(sessions, f"wall-{uuid.uuid4().hex[:6]}", "observer")
        yield Scene(
            client=dev_env.client,
            settings=settings,
            sessions=sessions,
            handles=handles,
            observer_token=token.secret,
        )


def chromium() -> str:
    from workflows.servers import binary

    return binary("chromium")


DOCS = Path(__file__).resolve().parents[1] / "docs"
