"""Running a scenario through the production workflow and activities.

The exercise starts the incident exactly as the API does (``build_input`` + ``start_incident``,
exercise flag set), serves it with the production worker (``worker.build_worker``, notifications
to exercise sinks), and sends each inject as the update the API would send. Only the clock
differs: the time-skipping server's virtual clock, or a compressed plan clock in live mode.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import FailureError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.sinks import ExerciseSink
from db.migrate import upgrade_async
from db.repository import IncidentRepository
from db.session import session_factory
from exercises.expectations import evaluate
from exercises.report import ExerciseReport, InjectRecord, NotificationRecord, build_report
from exercises.scenario import Scenario
from exercises.script import (
    LEAD_HOURS,
    InjectInput,
    JoiningReport,
    LevelAcknowledgement,
    MergingIncident,
    Script,
    T0Correction,
    acknowledgement,
    build_script,
    exercise_incident,
)
from foundation.durations import format_hours
from foundation.ids import workflow_id_for
from foundation.settings import Settings
from worker import WorkerDependencies, build_worker
from workflows.clock import PlanClock
from workflows.decisions import DecisionKind
from workflows.incident import IncidentWorkflow
from workflows.lookup import has_closed
from workflows.messages import (
    Action,
    CommitmentInput,
    Decision,
    DecisionInput,
    DecisionReceipt,
    DeploymentInput,
    EvidenceInput,
    IncidentInput,
    IncidentView,
    NoteInput,
    Phase,
)
from workflows.starting import slug, start_incident
from workflows.state import Rejected


def quiet_sdk_logs() -> None:
    """Keep the SDK core's warnings (the test server's capability notes) off the room's screen.

    Takes effect only before anything has created the default runtime (the first client or
    server); later, say inside a test session, it leaves the existing runtime alone."""
    with suppress(RuntimeError):
        Runtime.set_default(
            Runtime(
                telemetry=TelemetryConfig(
                    logging=LoggingConfig(
                        filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")
                    )
                )
            ),
            error_if_already_set=True,
        )


class ExerciseClock(Protocol):
    mode: str
    time_scale: float

    async def now(self) -> datetime: ...

    def start(self) -> None:
        """The exercise starts now (the report reaches the cell)."""

    async def wait_until(self, offset_hours: float) -> None:
        """Return once ``offset_hours`` plan hours have passed since :meth:`start`."""


# An inject scheduled at a mark goes out just before it: LEAD_HOURS (exercises/script.py) on
# the time-skipping server, and live:
LIVE_LEAD_SECONDS = 0.05  # live: a real 50 ms (3 plan minutes at x3600)


class SkippingClock:
    """The time-skipping server's clock: waiting skips ahead, so 72 plan hours take well under a second."""

    mode = "time-skipping"
    time_scale = 1.0

    def __init__(self, env: WorkflowEnvironment) -> None:
        self._env = env
        self._at = 0.0

    async def now(self) -> datetime:
        return await self._env.get_current_time()

    def start(self) -> None:
        self._at = 0.0

    async def wait_until(self, offset_hours: float) -> None:
        target = offset_hours - LEAD_HOURS
        if target > self._at:
            await self._env.sleep(timedelta(hours=target - self._at))
            self._at = target


class LiveClock:
    """Real time on a real cluster, with the plan compressed ``speed`` times (``time_scale``)."""

    mode = "live"

    def __init__(self, speed: float) -> None:
        self.time_scale = speed
        self._started = 0.0

    async def now(self) -> datetime:
        return datetime.now(UTC)

    def start(self) -> None:
        self._started = time.monotonic()

    async def wait_until(self, offset_hours: float) -> None:
        # Against the start, not the previous inject, so delays never accumulate.
        due = self._started + offset_hours * 3600 / self.time_scale - LIVE_LEAD_SECONDS
        await asyncio.sleep(max(0.0, due - time.monotonic()))


def tolerance_hours(clock: ExerciseClock) -> float:
    """How far actual times may stray from planned ones: a real second of plan time when live."""
    return 0.05 if clock.mode != "live" else 0.05 + clock.time_scale / 3600


@dataclass
class ExerciseWorker:
    """A production worker serving exercise incidents on one task queue and ledger database."""

    client: Client
    task_queue: str
    database_url: str
    exercise_sink: ExerciseSink
    real_sink: ExerciseSink  # receives nothing from an exercise; kept to prove it
    sessions: async_sessionmaker[AsyncSession]

    async def timeline(self, incident_id: str) -> list[Decision]:
        """The incident's whole timeline, from the ledger the worker wrote."""
        async with self.sessions() as session:
            return await IncidentRepository(session).decisions(incident_id)


@asynccontextmanager
async def exercise_worker(
    client: Client, database_url: str, task_queue: str, *, sandboxed: bool = True
) -> AsyncIterator[ExerciseWorker]:
    settings = Settings(
        database_url=database_url, task_queue=task_queue, notification_sink="exercise"
    )
    exercise_sink, real_sink = ExerciseSink(), ExerciseSink()
    deps = WorkerDependencies.build(settings, sink=real_sink, exercise_sink=exercise_sink)
    worker = build_worker(client, task_queue, deps, settings, sandboxed=sandboxed)
    try:
        async with worker:
            yield ExerciseWorker(
                client,
                task_queue,
                database_url,
                exercise_sink,
                real_sink,
                session_factory(deps.engine),
            )
    finally:
        await deps.close()


def scratch_dir() -> str | None:
    """Memory-backed when the machine has it: a throwaway ledger needs no fsync."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@asynccontextmanager
async def temporary_database() -> AsyncIterator[str]:
    """A migrated SQLite ledger that disappears with the exercise."""
    with tempfile.TemporaryDirectory(prefix="exercise-", dir=scratch_dir()) as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'ledger.db'}"
        await upgrade_async(url)
        yield url


def _rejection(exc: BaseException) -> str:
    """The validator's own words, as the API would relay them."""
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        return cause.message if isinstance(cause, FailureError) else str(cause)
    if isinstance(exc, RPCError):
        return exc.message
    return str(exc) or type(exc).__name__


# A completed workflow answers updates with "workflow completed" (a cluster) or "update not found"
# (the time-skipping server): both mean the incident had closed, which is what the room needs to hear.
CLOSED = "incident already closed"


class Refused(Exception):
    """An inject the exercise itself refuses, as the incident would: nothing to send."""


async def _send(
    handle, payload: InjectInput, clock: ExerciseClock, opening: Opening
) -> DecisionReceipt:
    if isinstance(payload, LevelAcknowledgement):
        view = await handle.query(IncidentWorkflow.state)
        try:
            ack = acknowledgement(payload, view.awaiting_ack)
        except Rejected as exc:
            raise Refused(str(exc)) from None
        return await handle.execute_update(IncidentWorkflow.acknowledge, ack)
    if isinstance(payload, NoteInput):
        return await handle.execute_update(IncidentWorkflow.add_note, payload)
    if isinstance(payload, DeploymentInput):
        return await handle.execute_update(IncidentWorkflow.report_deployment, payload)
    if isinstance(payload, JoiningReport):
        report = payload.report(opening.report_id, await clock.now(), clock.time_scale)
        return await handle.execute_update(IncidentWorkflow.join_report, report)
    if isinstance(payload, MergingIncident):
        return await _merge(handle, payload, clock, opening)
    if isinstance(payload, T0Correction):
        decision = payload.decision(opening.started, clock.time_scale)
        return await handle.execute_update(IncidentWorkflow.submit_decision, decision)
    if isinstance(payload, EvidenceInput):
        return await handle.execute_update(IncidentWorkflow.submit_evidence, payload)
    if isinstance(payload, CommitmentInput):
        return await handle.execute_update(IncidentWorkflow.submit_commitment, payload)
    assert isinstance(payload, DecisionInput)
    return await handle.execute_update(IncidentWorkflow.submit_decision, payload)


@dataclass(frozen=True)
class Opening:
    """What the injects need of the exercise's incident: its report id, when it opened, and
    where incidents merged into it are started."""

    incident: IncidentInput
    started: datetime
    worker: ExerciseWorker

    @property
    def report_id(self) -> str:
        return self.incident.report.report_id


async def _merge(
    handle, payload: MergingIncident, clock: ExerciseClock, opening: Opening
) -> DecisionReceipt:
    """The incident of its own, opened now, then merged into the response: the receipt is the
    response's (its ``absorbed`` decision), as the fast path reports it."""
    now = await clock.now()
    report = payload.report.report(opening.report_id, now, clock.time_scale)
    other = replace(
        opening.incident,
        incident_id=f"{opening.incident.incident_id}-{payload.report.suffix}",
        report=report,
    )
    worker = opening.worker
    absorbed = await start_incident(worker.client, other, worker.task_queue, now=now)
    into = opening.incident.incident_id
    try:
        await absorbed.execute_update(IncidentWorkflow.submit_decision, payload.decision(into))
    except (WorkflowUpdateFailedError, RPCError):
        # Refused (the response had ended, say): the incident of its own ends with the
        # exercise's control, so nothing of the exercise is left running.
        with suppress(WorkflowUpdateFailedError, RPCError):
            await absorbed.execute_update(
                IncidentWorkflow.submit_decision,
                DecisionInput(Action.STAND_DOWN, EXERCISE_CONTROL, "the merge was refused"),
            )
        raise
    view = await handle.query(IncidentWorkflow.state)
    taken = next(
        d
        for d in reversed(view.timeline)
        if d.kind == DecisionKind.ABSORBED and d.payload.get("incident") == other.incident_id
    )
    return DecisionReceipt(
        incident_id=into,
        seq=taken.seq,
        decisions=(str(DecisionKind.ABSORBED),),
        phase=view.phase,
        outcome=view.outcome,
        escalation_level=view.escalation_level,
        message=f"incident {other.incident_id} merged",
    )


async def run_script(
    worker: ExerciseWorker,
    scenario: Scenario,
    script: Script,
    clock: ExerciseClock,
    *,
    source: str = "",
    after: Callable[[WorkflowHandle], Awaitable[None]] | None = None,
) -> ExerciseReport:
    """Start the incident, play the injects at their times, wait for the outcome, report.

    ``after`` runs once the workflow has completed (to keep its history, say)."""
    wall = time.perf_counter()
    plan = scenario.plan_data
    violation = scenario.violation
    now = await clock.now()
    report_id = f"{violation.report_id or slug(scenario.name, 40)}-{uuid.uuid4().hex[:10]}"
    incident = exercise_incident(scenario, script, now, report_id, time_scale=clock.time_scale)
    handle = await start_incident(worker.client, incident, worker.task_queue, now=now)
    clock.start()
    opening = Opening(incident, now, worker)

    sent: list[tuple[int, InjectRecord]] = []
    closed = False  # a receipt said the incident has its outcome
    for inject in script.injects:
        record = InjectRecord(
            index=inject.index,
            offset_hours=round(inject.offset_hours, 4),
            at_hours=round(inject.offset_hours + script.lead_hours, 4),
            kind=inject.kind,
            description=inject.describe(),
            accepted=False,
            skipped=inject.skipped,
            message="skipped (p_skip)" if inject.skipped else "",
        )
        if inject.skipped:
            pass
        elif closed:
            # The workflow said so in its last receipt: anything more would be refused as ended.
            record = record.model_copy(update={"message": CLOSED})
        else:
            await clock.wait_until(inject.offset_hours)
            try:
                receipt = await _send(handle, inject.payload, clock, opening)
            except Refused as exc:
                record = record.model_copy(update={"message": str(exc)})
            except (
                WorkflowUpdateFailedError,
                WorkflowUpdateRPCTimeoutOrCancelledError,
                RPCError,
            ) as exc:
                # Refused, exactly as the API would have been told: note it and carry on.
                ended = await has_closed(worker.client, incident.incident_id)
                record = record.model_copy(update={"message": CLOSED if ended else _rejection(exc)})
            else:
                # An active response still takes input (evidence, replacements, its decisions).
                closed = receipt.phase is Phase.CLOSED
                record = record.model_copy(
                    update={"accepted": True, "message": receipt.message, "seq": receipt.seq}
                )
        sent.append((inject.index, record))

    view = await until_settled(handle, clock)
    timeline = await worker.timeline(incident.incident_id)
    at_by_seq = {d.seq: d.t_plus_hours for d in timeline}
    closed_hours = PlanClock(view.t0, view.time_scale).hours_since_t0(view.closed_at or view.t0)
    closed_text = (
        f"incident already closed ({view.outcome} at T0+{format_hours(closed_hours)}); "
        "no further input is accepted"
    )
    injects = [
        r.model_copy(update={"at_hours": at_by_seq[r.seq]})
        if r.seq in at_by_seq
        else r.model_copy(update={"message": closed_text})
        if r.message == CLOSED
        else r
        for _, r in sent
    ]
    notifications = [
        NotificationRecord(
            step=m.step, title=m.title, channel=ExerciseSink.name, exercise=m.exercise
        )
        for m in worker.exercise_sink.sent
        if m.workflow_id == handle.id
    ]
    result = build_report(
        scenario_name=scenario.name,
        source=source,
        plan=plan,
        mode=clock.mode,
        workflow_id=handle.id or workflow_id_for(incident.incident_id),
        script=script,
        view=view,
        timeline=timeline,
        injects=injects,
        notifications=notifications,
    )
    if view.phase is Phase.ACTIVE:
        # Reported as active; the exercise ends it now rather than at the plan's limit.
        await handle.execute_update(
            IncidentWorkflow.submit_decision,
            DecisionInput(Action.TERMINATE, EXERCISE_CONTROL, "end of exercise"),
        )
        await handle.result()
    if after is not None:
        await after(handle)
    result = result.model_copy(
        update={
            "expectations": evaluate(scenario.expect, result, tolerance_hours(clock)),
            "wall_seconds": round(time.perf_counter() - wall, 3),
        }
    )
    return result


EXERCISE_CONTROL = "exercise-control"
# How often the runner looks again while an active response's ledger catches up (real seconds).
SETTLE_POLL = 0.02


async def until_settled(handle: WorkflowHandle, clock: ExerciseClock) -> IncidentView:
    """After the last inject: the incident's view once it is closed (its result), or active with
    its ledger caught up (an active response would otherwise live to the plan's limit). Time
    passes from one scheduled moment to the next: nothing changes the phase in between."""
    started, last_due = None, None
    while True:
        view: IncidentView = await handle.query(IncidentWorkflow.state)
        if view.phase is Phase.CLOSED:
            return await handle.result()
        if view.phase is Phase.ACTIVE:
            if view.persisted_seq >= view.decisions_total and not view.notices_pending:
                return view
            await asyncio.sleep(SETTLE_POLL)
            continue
        if not view.schedule:
            return await handle.result()
        started = started or view.reported_at
        due = view.schedule[0].due_at
        if due == last_due:  # the worker has yet to take the timer that fired
            await asyncio.sleep(SETTLE_POLL)
            continue
        last_due = due
        offset = (due - started).total_seconds() * view.time_scale / 3600
        # Just past the due moment (the clock waits to LEAD_HOURS before the mark it is given).
        await clock.wait_until(offset + 2 * LEAD_HOURS)


async def run_time_skipping(
    scenario: Scenario,
    *,
    source: str = "",
    database_url: str | None = None,
    env: WorkflowEnvironment | None = None,
    task_queue: str | None = None,
) -> ExerciseReport:
    """One run on a time-skipping server (its own unless ``env`` is given), on a temporary ledger
    unless ``database_url`` is given."""
    from workflows.servers import start_time_skipping

    own_env = env is None
    env = env or await start_time_skipping()
    try:
        async with _database(database_url) as url:
            queue = task_queue or f"exercise-{uuid.uuid4().hex[:12]}"
            async with exercise_worker(env.client, url, queue) as worker:
                return await run_script(
                    worker, scenario, build_script(scenario), SkippingClock(env), source=source
                )
    finally:
        if own_env:
            await env.shutdown()


@asynccontextmanager
async def _database(database_url: str | None) -> AsyncIterator[str]:
    if database_url:
        yield database_url
    else:
        async with temporary_database() as url:
            yield url


async def run_live(
    scenario: Scenario,
    *,
    speed: float,
    client: Client,
    task_queue: str,
    source: str = "",
    database_url: str | None = None,
) -> ExerciseReport:
    """One run against a real cluster on a compressed plan clock (``time_scale=speed``).

    The incident is an ordinary workflow on ``task_queue``, flagged as an exercise everywhere, so
    the room watches it in the Web UI in real time; injects go out at ``at / speed`` real seconds.
    """
    async with _database(database_url) as url:
        async with exercise_worker(client, url, task_queue) as worker:
            return await run_script(
                worker, scenario, build_script(scenario), LiveClock(speed), source=source
            )
