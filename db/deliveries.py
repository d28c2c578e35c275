"""The notices' outbox (``deliveries``): claiming rows before a send, recording how each send
went, and the read side (an incident's deliveries, for the API and the board)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import Delivery
from db.upsert import per_dialect

PENDING = "pending"
DELIVERED = "delivered"
UNDELIVERED = "undelivered"


@dataclass(frozen=True)
class Claim:
    """One message about to be sent, as its row first records it."""

    idempotency_key: str
    incident_id: str
    notice_id: str
    notice_kind: str
    audience: str
    channel: str  # privacy form
    cleared: bool


@dataclass(frozen=True)
class Claimed:
    idempotency_key: str
    status: str
    attempts: int
    delivered_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    """How one send went: delivered, or not (with why, and whether it is final)."""

    idempotency_key: str
    status: str  # DELIVERED, PENDING (to be tried again) or UNDELIVERED (given up)
    error: str | None = None
    at: datetime | None = None


_claim_statement = per_dialect(
    lambda dialect: dialect.insert(Delivery.__table__).on_conflict_do_nothing(
        index_elements=["idempotency_key"]
    )
)


def claim(connection: Connection, claims: Sequence[Claim]) -> dict[str, Claimed]:
    """Every message's row, created pending on its first attempt, as stored on later ones (a
    message an earlier attempt delivered comes back delivered, and is not sent again)."""
    if not claims:
        return {}
    now = utcnow()
    connection.execute(
        _claim_statement(connection.dialect.name),
        [
            {
                "idempotency_key": c.idempotency_key,
                "incident_id": c.incident_id,
                "notice_id": c.notice_id,
                "notice_kind": c.notice_kind,
                "audience": c.audience,
                "channel": c.channel,
                "cleared": c.cleared,
                "status": PENDING,
                "attempts": 0,
                "created_at": now,
            }
            for c in claims
        ],
    )
    rows = connection.execute(
        _claimed_statement, {"keys": [c.idempotency_key for c in claims]}
    ).all()
    return {row.idempotency_key: Claimed(*row) for row in rows}


def record(connection: Connection, attempts: Sequence[Attempt]) -> None:
    """One more attempt on each row, and its outcome. A row already delivered stays delivered
    (two attempts racing after a lost heartbeat must not undo a delivery)."""
    if not attempts:
        return
    connection.execute(
        _record_statement,
        [
            {
                "key": a.idempotency_key,
                "outcome": a.status,
                "error": None if a.status == DELIVERED else a.error,
                "at": a.at if a.status == DELIVERED else None,
            }
            for a in attempts
        ],
    )


# Built once, values as parameters: compiled once and served from SQLAlchemy's cache (a
# statement built per call was a third of a notice's database time).
_table = Delivery.__table__
_claimed_statement = select(
    _table.c.idempotency_key, _table.c.status, _table.c.attempts, _table.c.delivered_at
).where(_table.c.idempotency_key.in_(bindparam("keys", expanding=True)))
_record_statement = (
    update(_table)
    .where(_table.c.idempotency_key == bindparam("key"))
    .values(
        attempts=_table.c.attempts + 1,
        status=case(
            (_table.c.status == DELIVERED, DELIVERED),
            else_=bindparam("outcome", type_=_table.c.status.type),
        ),
        last_error=bindparam("error"),
        delivered_at=case(
            (_table.c.status == DELIVERED, _table.c.delivered_at),
            else_=bindparam("at", type_=_table.c.delivered_at.type),
        ),
    )
)


async def incident_deliveries(session: AsyncSession, incident_id: str) -> list[Delivery]:
    """Every message of an incident's notices, oldest first: what the API and the board show
    (the undelivered ones above all)."""
    return list(
        await session.scalars(
            select(Delivery)
            .where(Delivery.incident_id == incident_id)
            .order_by(Delivery.created_at, Delivery.id)
        )
    )
