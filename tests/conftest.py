"""Session-wide fixtures: real Temporal servers from the shipped binaries, and migrated
SQLite and PostgreSQL databases. One server of each kind per session; every test gets its own
task queue and workflow ids.

PostgreSQL is required (127.0.0.1:5432, database `test`, or TEST_POSTGRES_URL): the suite
fails rather than skip it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.ledger import LedgerActivities
from activities.sinks import ExerciseSink
from db.migrate import upgrade_async
from db.session import create_engine, session_factory
from db.transactions import Transactions, transactions_for
from foundation.logging import configure_logging
from foundation.settings import Settings
from worker import WorkerDependencies, build_worker
from workflows.servers import start_dev_server, start_time_skipping

# The operators' scene (incidents in known states on the dev server), for the board and Web UI
# tests; the real mail and HTTP receivers for the channels (tests/receivers.py).
pytest_plugins = ["tests.scene", "tests.receivers"]

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)

configure_logging("console", os.environ.get("TEST_LOG_LEVEL", "WARNING"))


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server per test module (it starts in ~0.1 s).

    It has one clock, so a module's tests use it one at a time; and a workflow a test leaves
    running there (with no worker left to serve it) can hold that clock back, so no module
    inherits another's leftovers.
    """
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (in memory), search attributes registered."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


async def _admin(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    try:
        return await asyncpg.connect(
            host=parsed.host,
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            password=parsed.password,
            database=parsed.database or "postgres",
        )
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is required by the test suite and is not reachable at {url} ({exc}); "
            "start it or point TEST_POSTGRES_URL at one",
            pytrace=False,
        )


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, migrated database on the PostgreSQL server, dropped at the end of the session."""
    name = f"contingency_test_{uuid.uuid4().hex[:10]}"
    admin = await _admin(POSTGRES_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_async(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "ledger.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_async(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(
        {"sqlite": "sqlite_url", "postgresql": "postgres_url"}[request.param]
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def transactions(engine: AsyncEngine) -> AsyncIterator[Transactions]:
    """The activities' unit-of-work runner on the test's database (SQLite: its writer thread)."""
    runner = transactions_for(engine)
    yield runner
    await runner.close()


@pytest.fixture
def ledger_writer(transactions: Transactions) -> LedgerActivities:
    return LedgerActivities(transactions)


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(database_url: str, task_queue: str, tmp_path: Path) -> Settings:
    # A data directory of the test's own: a developer's .contingency/contacts.yaml must never
    # let a test reach real people, and no link secret is left in the work tree.
    return Settings(database_url=database_url, task_queue=task_queue, data_dir=tmp_path)


@pytest.fixture
def exercise_sink() -> ExerciseSink:
    return ExerciseSink()


RunWorker = Callable[[Client], "asynccontextmanager[Worker]"]


@pytest.fixture
def run_worker(settings: Settings, exercise_sink: ExerciseSink):
    """``async with run_worker(client) as worker:`` — a worker on this test's task queue and database.

    Notifications go to an in-memory exercise sink the test can inspect.
    """

    @asynccontextmanager
    async def _run(client: Client) -> AsyncIterator[Worker]:
        deps = WorkerDependencies.build(settings, sink=exercise_sink, exercise_sink=exercise_sink)
        worker = build_worker(client, settings.task_queue, deps, settings)
        try:
            async with worker:
                yield worker
        finally:
            await deps.close()

    return _run
