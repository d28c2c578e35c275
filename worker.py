"""The worker: connects to Temporal, builds the activities with their dependencies, and runs.

Workers hold no state of their own; run as many as the load needs, each configured by the
environment (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS settings, DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.channels import ChannelSender
from activities.contacts import Contacts, contacts_from_settings, warn_unconfigured
from activities.ledger import LedgerActivities
from activities.merging import MergeActivities
from activities.notifications import NotificationActivities
from activities.notify import ExerciseNotices, NoticeActivities
from activities.outbox import Outbox
from activities.rendering import NoticeRenderer
from activities.sinks import ExerciseSink, LogSink, NotificationSink, WebhookSink
from db.session import create_engine
from db.transactions import Transactions, transactions_for
from foundation.log_context import ActivityLogContext
from foundation.logging import configure_logging
from foundation.metrics import sdk_runtime
from foundation.metrics import serve as serve_metrics
from foundation.process_exit import run_then_exit
from foundation.settings import Settings
from foundation.temporal import connect
from plans.loader import load_plans
from workflows.incident import IncidentWorkflow

log = structlog.get_logger(__name__)

# Deterministic, side-effect-free modules the workflow imports: share them with the sandbox
# instead of re-importing them for every workflow run.
PASSTHROUGH = (
    "plans",
    "workflows.messages",
    "workflows.state",
    "workflows.driver",
    "workflows.communications",
    "workflows.notices",
    "workflows.clock",
    "workflows.details",
    "workflows.names",
    "workflows.search_attributes",
    "workflows.activity_inputs",
    "structlog",
    "pydantic",
    "yaml",
)


def build_sink(settings: Settings) -> NotificationSink:
    if settings.notification_sink == "exercise":
        return ExerciseSink()
    if settings.notification_sink == "webhook":
        if not settings.webhook_url or settings.webhook_secret is None:
            raise ValueError(
                "notification_sink=webhook needs CONTINGENCY_WEBHOOK_URL and CONTINGENCY_WEBHOOK_SECRET"
            )
        return WebhookSink(
            settings.webhook_url,
            settings.webhook_secret.get_secret_value(),
            timeout=settings.webhook_timeout_seconds,
        )
    return LogSink()


def build_renderer(settings: Settings) -> NoticeRenderer:
    return NoticeRenderer(
        # Read (or generated) on the first link, not at build: a worker that never sends one
        # leaves no secret file behind.
        link_secret=settings.link_secret_bytes,
        public_url=settings.public_url,
        templates_dir=settings.templates_dir,
    )


def build_sender(settings: Settings) -> ChannelSender:
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return ChannelSender(secret, webhook_timeout=settings.webhook_timeout_seconds)


@dataclass
class WorkerDependencies:
    engine: AsyncEngine
    transactions: Transactions
    contacts: Contacts
    ledger: LedgerActivities
    notifications: NotificationActivities
    notices: NoticeActivities

    @classmethod
    def build(
        cls,
        settings: Settings,
        sink: NotificationSink | None = None,
        exercise_sink: NotificationSink | None = None,
        *,
        contacts: Contacts | None = None,
        sender: ChannelSender | None = None,
        exercise_notices: ExerciseNotices | None = None,
    ) -> WorkerDependencies:
        # The contacts file first: a file that cannot be used stops the worker before it
        # connects to anything (ContactsError names the audience and the channel at fault).
        contacts = contacts if contacts is not None else contacts_from_settings(settings)
        engine = create_engine(settings.database_url)
        # One unit-of-work runner for every activity: on SQLite, one writer thread per worker.
        transactions = transactions_for(engine)
        renderer = build_renderer(settings)
        sender = sender or build_sender(settings)
        outbox = Outbox(transactions, sender, settings.notice_concurrency)
        return cls(
            engine=engine,
            transactions=transactions,
            contacts=contacts,
            ledger=LedgerActivities(transactions),
            notifications=NotificationActivities(
                transactions,
                sink or build_sink(settings),
                exercise_sink or ExerciseSink(),
                contacts=contacts,
                renderer=renderer,
                outbox=outbox,
            ),
            notices=NoticeActivities(
                transactions,
                contacts,
                renderer,
                sender,
                exercise_notices=exercise_notices,
                concurrency=settings.notice_concurrency,
            ),
        )

    async def close(self) -> None:
        await self.transactions.close()
        await self.engine.dispose()


def build_worker(
    client: Client,
    task_queue: str,
    deps: WorkerDependencies,
    settings: Settings | None = None,
    *,
    sandboxed: bool = True,
) -> Worker:
    """The worker. ``sandboxed=False`` runs the same workflow code without the sandbox, which
    only guards against non-determinism (the suite's sandboxed runs and the recorded histories'
    replays check that) and costs a quarter of a sweep's conformance runs: for those only."""
    settings = settings or Settings()
    runner: WorkflowRunner = (
        SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        )
        if sandboxed
        else UnsandboxedWorkflowRunner()
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[IncidentWorkflow],
        activities=[
            deps.ledger.record_decisions,
            deps.notifications.dispatch_step,
            deps.notices.send_notice,
            MergeActivities(client).hand_over_incident,
        ],
        workflow_runner=runner,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
        interceptors=[ActivityLogContext()],
    )


async def run(settings: Settings, stop: asyncio.Event) -> None:
    runtime, metrics = None, None
    if settings.metrics_port is not None:
        runtime, sdk_url = sdk_runtime()
        metrics = serve_metrics(settings.metrics_port, settings.metrics_host, sdk_url=sdk_url)
        log.info("worker.metrics", url=f"http://{settings.metrics_host}:{metrics.port}/metrics")
    deps = WorkerDependencies.build(settings)
    try:
        # Every audience nobody would hear is said at start-up, one warning each; a reworded
        # template that does not render stops the worker here, not a notice in an emergency.
        warn_unconfigured(deps.contacts, load_plans().values())
        deps.notices.renderer.check()
        client = await connect(settings, runtime=runtime)
        worker = build_worker(client, settings.task_queue, deps, settings)
        log.info(
            "worker.started",
            temporal=settings.temporal_address,
            namespace=settings.temporal_namespace,
            task_queue=settings.task_queue,
            database=deps.engine.url.render_as_string(hide_password=True),
        )
        async with worker:
            await stop.wait()
            log.info("worker.stopping")
    finally:
        await deps.close()
        if metrics is not None:
            metrics.close()
    log.info("worker.stopped")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    # Everything is shut down in order first; then the exit skips the SDK's finalisation.
    run_then_exit(lambda: asyncio.run(_main()))


if __name__ == "__main__":
    main()
