"""Dispatch of diplomatic steps through the configured sink, with an outbox row per step."""

from __future__ import annotations

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.inputs import DispatchResult, DispatchStepInput
from activities.sinks import NotificationSink, OutboundMessage, SinkRejected
from db.base import utcnow
from db.models import Notification
from db.upsert import insert_for

log = structlog.get_logger(__name__)


class NotificationActivities:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sink: NotificationSink,
        exercise_sink: NotificationSink,
    ) -> None:
        self._sessions = sessions
        self._sink = sink
        self._exercise_sink = exercise_sink

    @activity.defn(name="dispatch_step")
    async def dispatch_step(self, step: DispatchStepInput) -> DispatchResult:
        # Exercise incidents go to the exercise sink whatever the configuration says.
        sink = self._exercise_sink if step.exercise else self._sink
        message = OutboundMessage(
            idempotency_key=f"{step.workflow_id}:{step.step}",
            incident_id=step.incident_id,
            workflow_id=step.workflow_id,
            step=step.step,
            title=step.title,
            kind=step.kind,
            sector=step.sector,
            t0=step.t0,
            escalation_level=step.escalation_level,
            exercise=step.exercise,
        )
        bound = log.bind(incident_id=step.incident_id, workflow_id=step.workflow_id, step=step.step)
        async with self._sessions.begin() as session:
            stmt = insert_for(session, Notification).values(
                incident_id=step.incident_id,
                idempotency_key=message.idempotency_key,
                step=step.step,
                channel=sink.name,
                payload=message.as_json(),
                status="pending",
                attempts=0,
                created_at=utcnow(),
            )
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["idempotency_key"]))
            row = await session.scalar(
                select(Notification).where(Notification.idempotency_key == message.idempotency_key)
            )
            assert row is not None
            if row.status == "delivered" and row.delivered_at is not None:
                bound.info("notification.already_delivered")
                return DispatchResult(row.channel, row.idempotency_key, row.delivered_at, already_delivered=True)

        try:
            await sink.send(message)
        except SinkRejected as exc:
            await self._mark(message.idempotency_key, status="failed", error=str(exc))
            bound.error("notification.rejected", error=str(exc))
            raise ApplicationError(str(exc), type="SinkRejected", non_retryable=True) from exc
        except Exception as exc:
            await self._mark(message.idempotency_key, status="pending", error=f"{type(exc).__name__}: {exc}")
            bound.warning("notification.retrying", error=str(exc), attempt=activity.info().attempt)
            raise
        delivered_at = utcnow()
        await self._mark(message.idempotency_key, status="delivered", delivered_at=delivered_at)
        return DispatchResult(sink.name, message.idempotency_key, delivered_at, already_delivered=False)

    async def _mark(self, key: str, *, status: str, error: str | None = None, delivered_at=None) -> None:  # noqa: ANN001
        async with self._sessions.begin() as session:
            await session.execute(
                update(Notification)
                .where(Notification.idempotency_key == key)
                .values(
                    status=status,
                    attempts=Notification.attempts + 1,
                    last_error=error,
                    delivered_at=delivered_at,
                )
            )
