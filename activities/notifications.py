"""Dispatch of diplomatic steps through the configured sink, with an outbox row per step."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, Row, select, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.sinks import NotificationSink, OutboundMessage, SinkRejected
from db.base import utcnow
from db.models import Notification
from db.transactions import Transactions
from db.upsert import per_dialect
from workflows.activity_inputs import DispatchResult, DispatchStepInput
from workflows.names import ACTIVITY_DISPATCH_STEP

log = structlog.get_logger(__name__)


class NotificationActivities:
    def __init__(
        self, transactions: Transactions, sink: NotificationSink, exercise_sink: NotificationSink
    ) -> None:
        self._transactions = transactions
        self._sink = sink
        self._exercise_sink = exercise_sink

    @activity.defn(name=ACTIVITY_DISPATCH_STEP)
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
        outbox = await self._transactions.run(partial(_claim, message=message, channel=sink.name))
        if outbox.status == "delivered" and outbox.delivered_at is not None:
            bound.info("notification.already_delivered")
            return DispatchResult(
                outbox.channel, message.idempotency_key, outbox.delivered_at, already_delivered=True
            )

        try:
            await sink.send(message)
        except SinkRejected as exc:
            await self._mark(message.idempotency_key, status="failed", error=str(exc))
            bound.error("notification.rejected", error=str(exc))
            raise ApplicationError(str(exc), type="SinkRejected", non_retryable=True) from exc
        except Exception as exc:
            await self._mark(
                message.idempotency_key, status="pending", error=f"{type(exc).__name__}: {exc}"
            )
            bound.warning("notification.retrying", error=str(exc), attempt=activity.info().attempt)
            raise
        delivered_at = utcnow()
        await self._mark(message.idempotency_key, status="delivered", delivered_at=delivered_at)
        return DispatchResult(
            sink.name, message.idempotency_key, delivered_at, already_delivered=False
        )

    async def _mark(
        self,
        key: str,
        *,
        status: str,
        error: str | None = None,
        delivered_at: datetime | None = None,
    ) -> None:
        await self._transactions.run(
            partial(_set_status, key=key, status=status, error=error, delivered_at=delivered_at)
        )


def _claim(connection: Connection, *, message: OutboundMessage, channel: str) -> Row[Any]:
    """The step's outbox row, created pending on its first attempt; as stored on later ones."""
    outbox = Notification.__table__
    connection.execute(
        _claim_statement(connection.dialect.name),
        {
            "incident_id": message.incident_id,
            "idempotency_key": message.idempotency_key,
            "step": message.step,
            "channel": channel,
            "payload": message.as_json(),
            "status": "pending",
            "attempts": 0,
            "created_at": utcnow(),
        },
    )
    return connection.execute(
        select(outbox.c.status, outbox.c.channel, outbox.c.delivered_at).where(
            outbox.c.idempotency_key == message.idempotency_key
        )
    ).one()


def _set_status(
    connection: Connection,
    *,
    key: str,
    status: str,
    error: str | None,
    delivered_at: datetime | None,
) -> None:
    connection.execute(
        update(Notification)
        .where(Notification.idempotency_key == key)
        .values(
            status=status,
            attempts=Notification.attempts + 1,
            last_error=error,
            delivered_at=delivered_at,
        )
    )


_claim_statement = per_dialect(
    lambda dialect: dialect.insert(Notification.__table__).on_conflict_do_nothing(
        index_elements=["idempotency_key"]
    )
)
