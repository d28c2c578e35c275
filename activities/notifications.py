"""Dispatch of diplomatic steps, with an outbox row per step: through the channels the contacts
file gives the ``step:<step>`` audience when it gives any (a row per channel in ``deliveries``
too), else through the configured sink as before."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, Row, select, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contacts import NO_CONTACTS, Channel, Contacts
from activities.outbox import Outbox, Outcome, Result, Target
from activities.rendering import NoticeRenderer
from activities.sinks import NotificationSink, OutboundMessage, SinkRejected
from db.base import utcnow
from db.deliveries import Claim
from db.models import Notification
from db.transactions import Transactions
from db.upsert import per_dialect
from workflows.activity_inputs import DispatchResult, DispatchStepInput
from workflows.names import ACTIVITY_DISPATCH_STEP
from workflows.notices import step_audience

log = structlog.get_logger(__name__)

# The step's own outbox row names this channel when the step went through the contacts file's
# channels (each of which has its row in ``deliveries``).
CHANNELS = "channels"


class StepUndelivered(Exception):
    """A channel of the step's audience did not take it this time: retried with backoff."""


class NotificationActivities:
    def __init__(
        self,
        transactions: Transactions,
        sink: NotificationSink,
        exercise_sink: NotificationSink,
        *,
        contacts: Contacts = NO_CONTACTS,
        renderer: NoticeRenderer | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self._transactions = transactions
        self._sink = sink
        self._exercise_sink = exercise_sink
        self._contacts = contacts
        self._renderer = renderer
        self._outbox = outbox

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
        channels = () if step.exercise else self._contacts.channels(step_audience(step.step))
        if channels and self._renderer is not None and self._outbox is not None:
            return await self._through_channels(
                message, channels, self._renderer, self._outbox, bound
            )
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

    async def _through_channels(
        self,
        message: OutboundMessage,
        channels: tuple[Channel, ...],
        renderer: NoticeRenderer,
        outbox: Outbox,
        bound: structlog.typing.FilteringBoundLogger,
    ) -> DispatchResult:
        """Every channel of the step's audience, each once. The step is dispatched when each
        has it or has refused it for good, and at least one has it; it is refused (not
        retried) when every channel refuses it; otherwise the attempt fails and the
        activity's retry policy backs off, as with a sink that is down."""
        key = message.idempotency_key
        row = await self._transactions.run(partial(_claim, message=message, channel=CHANNELS))
        if row.status == "delivered" and row.delivered_at is not None:
            bound.info("notification.already_delivered")
            return DispatchResult(row.channel, key, row.delivered_at, already_delivered=True)
        rendered = renderer.render_step(message)
        audience = step_audience(message.step)
        targets = [
            Target(
                Claim(
                    idempotency_key=f"{key}/{audience}/{channel.digest}",
                    incident_id=message.incident_id,
                    notice_id=key,
                    notice_kind="step",
                    audience=audience,
                    channel=channel.privacy,
                    cleared=channel.cleared,
                ),
                rendered.cleared if channel.cleared else rendered.uncleared,
                channel,
            )
            for channel in channels
        ]
        outcomes = await outbox.attempt(targets)
        failed = [o for o in outcomes if o.result is Result.FAILED]
        reached = [o for o in outcomes if o.result in (Result.DELIVERED, Result.ALREADY)]
        await outbox.settle(outcomes, final=not failed)
        if failed:
            error = _first_error(failed)
            await self._mark(key, status="pending", error=error)
            bound.warning("notification.retrying", error=error, attempt=activity.info().attempt)
            raise StepUndelivered(error)
        if not reached:
            error = _first_error(outcomes)
            await self._mark(key, status="failed", error=error)
            bound.error("notification.rejected", error=error)
            raise ApplicationError(error, type="SinkRejected", non_retryable=True)
        delivered_at = utcnow()
        await self._mark(key, status="delivered", delivered_at=delivered_at)
        return DispatchResult(CHANNELS, key, delivered_at, already_delivered=False)

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


def _first_error(outcomes: list[Outcome]) -> str:
    first = outcomes[0]
    more = f" (and {len(outcomes) - 1} more)" if len(outcomes) > 1 else ""
    return f"{first.target.claim.channel[:80]}: {first.error}{more}"


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
