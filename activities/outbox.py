"""One attempt at a set of messages through the outbox (``deliveries``): claim a row for each,
skip those an earlier attempt delivered, send the rest concurrently (bounded), record each.

The notice activity (activities/notify.py) and the diplomatic steps' channels
(activities/notifications.py) both send this way; each decides what a failure means for its
own retries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial

import structlog

from activities.channels import ChannelFailed, ChannelRefused, ChannelSender, Message, short
from activities.contacts import Channel
from db import deliveries
from db.base import utcnow
from db.transactions import Transactions

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Target:
    """One message to one channel of one audience. ``channel`` None: an exercise message,
    recorded as delivered on channel ``exercise`` without leaving the machine."""

    claim: deliveries.Claim
    message: Message
    channel: Channel | None = None

    @property
    def key(self) -> str:
        return self.claim.idempotency_key


class Result(StrEnum):
    DELIVERED = "delivered"
    ALREADY = "already_delivered"  # by an earlier attempt
    REFUSED = "refused"  # for good: undelivered at once
    FAILED = "failed"  # this time: worth another attempt


@dataclass(frozen=True)
class Outcome:
    target: Target
    result: Result
    error: str | None = None
    delivered_at: datetime | None = None


class Outbox:
    def __init__(self, transactions: Transactions, sender: ChannelSender, concurrency: int) -> None:
        self._transactions = transactions
        self._sender = sender
        self._concurrency = concurrency

    async def attempt(self, targets: list[Target]) -> list[Outcome]:
        """Send every target not yet delivered, once; the caller records the outcomes with
        :meth:`settle` once it knows whether this attempt is its last."""
        claimed = await self._transactions.run(
            partial(deliveries.claim, claims=[t.claim for t in targets])
        )
        gate = asyncio.Semaphore(self._concurrency)

        async def one(target: Target) -> Outcome:
            row = claimed[target.key]
            if row.status == deliveries.DELIVERED:
                return Outcome(target, Result.ALREADY, delivered_at=row.delivered_at)
            if target.channel is None:
                return Outcome(target, Result.DELIVERED, delivered_at=utcnow())
            async with gate:
                try:
                    await self._sender.send(target.channel, target.message, target.key)
                except ChannelRefused as exc:
                    return Outcome(target, Result.REFUSED, error=short(str(exc)))
                except ChannelFailed as exc:
                    return Outcome(target, Result.FAILED, error=short(str(exc)))
            return Outcome(target, Result.DELIVERED, delivered_at=utcnow())

        outcomes = list(await asyncio.gather(*(one(t) for t in targets)))
        for outcome in outcomes:
            _log(outcome)
        return outcomes

    async def settle(self, outcomes: list[Outcome], *, final: bool) -> None:
        """Record this attempt's outcomes: failures stay pending unless ``final``."""
        failed = deliveries.UNDELIVERED if final else deliveries.PENDING
        attempts = [
            deliveries.Attempt(
                outcome.target.key,
                {
                    Result.DELIVERED: deliveries.DELIVERED,
                    Result.REFUSED: deliveries.UNDELIVERED,
                    Result.FAILED: failed,
                }[outcome.result],
                error=outcome.error,
                at=outcome.delivered_at,
            )
            for outcome in outcomes
            if outcome.result is not Result.ALREADY
        ]
        if attempts:
            await self._transactions.run(partial(deliveries.record, attempts=attempts))


def _log(outcome: Outcome) -> None:
    claim = outcome.target.claim
    fields = {
        "notice_id": claim.notice_id,
        "audience": claim.audience,
        "channel": claim.channel,  # the privacy form: never the URL itself
        "key": claim.idempotency_key,
    }
    if outcome.result in (Result.DELIVERED, Result.ALREADY):
        # An exercise's messages stay on the machine: kept for its report, not the log.
        quiet = claim.channel == "exercise"
        (log.debug if quiet else log.info)(f"delivery.{outcome.result}", **fields)
    elif outcome.result is Result.REFUSED:
        log.error("delivery.refused", error=outcome.error, **fields)
    else:
        log.warning("delivery.failed", error=outcome.error, **fields)
