"""One fault test's engine: a fresh PostgreSQL database (reached through a TCP proxy that can cut
it off), the Temporal dev server on a database file, two worker processes, the API under uvicorn,
and a counting webhook receiver; then the 20 incidents driven through the API while a fault
strikes, and the checks once they have all ended."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from db.migrate import upgrade_async
from db.session import create_engine, session_factory
from db.tokens import create_token
from foundation.settings import Settings
from foundation.temporal import connect
from tests.conftest import POSTGRES_URL, _admin
from tests.faults.checks import FaultResult, verify_incidents, wait_for_all
from tests.faults.crew import Crew, IncidentRun
from tests.faults.processes import ApiProcess, Process, TemporalServer, worker_process
from tests.faults.receiver import WebhookReceiver
from tests.faults.scripts import ALLIES, OPERATOR, REPORTER, ally, build_scripts
from tests.faults.tcp_proxy import TcpProxy

RESULTS_DIR = Path(__file__).parent / "results"
WEBHOOK_SECRET = "fault-test-webhook-secret"


@dataclass
class Stack:
    directory: Path
    time_scale: float
    window_seconds: float  # 72 plan hours, in real seconds
    temporal: TemporalServer
    proxy: TcpProxy
    receiver: WebhookReceiver
    workers: list[Process]
    api: ApiProcess
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    secrets: dict[str, str]
    task_queue: str
    events: list[str]
    started: float = 0.0

    def note(self, event: str) -> None:
        """A fault event, timed from the first report, for the report and the failure message."""
        self.events.append(f"t+{time.monotonic() - self.started:.1f}s {event}")

    async def at(self, seconds: float) -> None:
        """Sleep until ``seconds`` after the first report."""
        await asyncio.sleep(max(0.0, self.started + seconds - time.monotonic()))

    async def after_reports(self, crew: Crew, seconds: float) -> None:
        """Sleep until ``seconds`` after the last of the incidents was reported: the fault then
        strikes running incidents, however slowly a loaded machine got them started."""
        await asyncio.wait_for(crew.all_reported.wait(), self.window_seconds)
        self.note(f"all {crew.reported} incidents reported")
        await asyncio.sleep(seconds)

    def logs(self) -> str:
        parts = [
            f"--- {p.name} (last lines) ---\n{p.tail(25)}"
            for p in (self.temporal, *self.workers, self.api)
        ]
        return "\n".join(parts)


@asynccontextmanager
async def engine_stack(tmp_path: Path, window_seconds: float) -> AsyncIterator[Stack]:
    name = f"contingency_faults_{uuid.uuid4().hex[:10]}"
    admin = await _admin(POSTGRES_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    direct = make_url(POSTGRES_URL).set(database=name)
    proxy = TcpProxy(direct.host or "127.0.0.1", direct.port or 5432)
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    temporal = TemporalServer(tmp_path)
    engine = create_engine(direct.render_as_string(hide_password=False))
    processes: list[Process] = []
    try:
        await upgrade_async(direct.render_as_string(hide_password=False))
        sessions = session_factory(engine)
        secrets = {"reporter": (await create_token(sessions, REPORTER, "reporter")).secret,
                   "operator": (await create_token(sessions, OPERATOR, "operator")).secret,
                   "observer": (await create_token(sessions, "fault-observer", "observer")).secret}  # fmt: skip
        for party in ALLIES:
            secrets[f"ally:{party}"] = (
                await create_token(sessions, ally(party), f"ally:{party}")
            ).secret
        await proxy.start()
        await receiver.start()
        await temporal.start_and_wait()
        task_queue = f"faults-{uuid.uuid4().hex[:8]}"
        time_scale = 72 * 3600 / window_seconds
        env = {
            "TEMPORAL_ADDRESS": temporal.address,
            "DATABASE_URL": direct.set(port=proxy.port).render_as_string(hide_password=False),
            "CONTINGENCY_TASK_QUEUE": task_queue,
            "CONTINGENCY_DATA_DIR": str(tmp_path / "data"),
            "CONTINGENCY_NOTIFICATION_SINK": "webhook",
            "CONTINGENCY_WEBHOOK_URL": receiver.url,
            "CONTINGENCY_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "CONTINGENCY_LOG_FORMAT": "json",
            "CONTINGENCY_LOG_LEVEL": "INFO",
            "CONTINGENCY_TIME_SCALE": str(time_scale),
        }
        workers = [worker_process(f"worker-{i}", tmp_path, env) for i in (1, 2)]
        api = ApiProcess(tmp_path, env)
        processes += [*workers, api]
        for worker in workers:
            await worker.start()
        await api.start_and_wait()
        client = await connect(Settings(temporal_address=temporal.address))
        yield Stack(tmp_path, time_scale, window_seconds, temporal, proxy, receiver, workers, api,
                    client, sessions, secrets, task_queue, [])  # fmt: skip
    finally:
        for process in reversed(processes):
            await process.stop()
        await temporal.stop()
        await proxy.close()
        await receiver.close()
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


Fault = Callable[[Stack, Crew], Awaitable[None]]


async def run_fault_test(
    stack: Stack, fault_name: str, fault: Fault, *, seed: int, settle_seconds: float = 90.0
) -> FaultResult:
    """Drive the 20 incidents through the API while ``fault`` strikes; check; record the result."""
    scripts = build_scripts(seed, tag=fault_name.split()[0].lower())
    began = time.monotonic()
    stack.started = began
    crew = Crew(lambda: stack.api.url, stack.secrets, stack.time_scale,
                deadline=began + stack.window_seconds + settle_seconds, expected_reports=len(scripts))  # fmt: skip
    result = FaultResult(fault=fault_name, time_scale=round(stack.time_scale))
    runs: list[IncidentRun]
    fault_task = asyncio.create_task(fault(stack, crew))
    try:
        runs = list(await asyncio.gather(*(crew.run(s) for s in scripts)))
        await fault_task
        views = await wait_for_all(
            stack.client, runs, timeout=stack.window_seconds + settle_seconds
        )
        await verify_incidents(result, stack.client, stack.sessions, runs, views, stack.receiver,
                               stack.api.url, stack.secrets["observer"])  # fmt: skip
    except BaseException as exc:
        fault_task.cancel()
        raise AssertionError(
            f"{fault_name}: {exc}\nevents: {stack.events}\n{stack.logs()}"
        ) from exc
    # Every process logged at INFO with real tokens in use: none of them may show a secret.
    secrets = [*stack.secrets.values(), WEBHOOK_SECRET]
    processes = (stack.temporal, *stack.workers, stack.api)
    result.log_bytes_scanned = sum(p.log.stat().st_size for p in processes if p.log.exists())
    leaked = [
        p.name
        for p in processes
        if p.log.exists() and any(s in p.log.read_text(errors="replace") for s in secrets)
    ]
    if leaked:
        result.problems.append(f"a token or the webhook secret appears in the logs of {leaked}")
    result.seconds = round(time.monotonic() - began, 1)
    result.client_requests, result.client_retries = crew.requests, crew.retries
    result.client_retry_reasons = dict(crew.failures)
    result.fault_events = stack.events
    RESULTS_DIR.mkdir(exist_ok=True)
    slug = fault_name.split(":")[0].strip().lower().replace(" ", "-")
    (RESULTS_DIR / f"{slug}.json").write_text(
        json.dumps(result.as_json(), indent=2, default=str) + "\n"
    )
    return result


def assert_clean(result: FaultResult, stack: Stack) -> None:
    assert not result.problems, (
        f"{result.fault}: {len(result.problems)} problem(s):\n"
        + "\n".join(result.problems)
        + f"\nevents: {stack.events}\n{stack.logs()}"
    )
    assert result.outcomes_as_expected == result.incidents == 20
    assert result.inputs_recorded_once == result.inputs_sent
    assert result.chains_verified == 20
    assert result.workflow_tasks_failed == 0
    assert "HTTP 500" not in result.client_retry_reasons, (
        "a fault was answered as an internal error"
    )
    assert (
        result.receiver_processed
        == result.outbox_rows
        == result.steps_dispatched + result.delivered_not_in_ledger
    )
