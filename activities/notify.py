"""The notice activity: one notice (workflows/notices.py) to every channel of its audiences.

Each message has an outbox row keyed ``{notice_id}/{audience}/{channel digest}``, claimed
before it is sent: an attempt sends only what no earlier attempt delivered, so a retried or
repeated activity never makes a second distinct message (a send whose answer was lost arrives
again with the same X-Contingency-Key, which receivers drop).

Apprise cannot tell a channel that is down from one that will never work, so a failure is
retried (the activity raises NOTICE_UNDELIVERED and Temporal backs off) until the notice's
``max_attempts`` or its ``deliver_until``, whichever comes first; then it is recorded
undelivered and the result says so. A permanent refusal (the webhook's 4xx) is undelivered at
once. Exercise notices never leave the machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.channels import ChannelSender
from activities.contacts import Contacts, url_digest
from activities.outbox import Outbox, Outcome, Result, Target
from activities.rendering import NoticeRenderer
from db.base import utcnow
from db.deliveries import Claim
from db.transactions import Transactions
from workflows.names import ACTIVITY_SEND_NOTICE, NOTICE_UNDELIVERED
from workflows.notices import NoticeInput, NoticeResult, Undelivered

log = structlog.get_logger(__name__)

EXERCISE_CHANNEL = "exercise"


def delivery_key(notice_id: str, audience: str, channel_digest: str) -> str:
    return f"{notice_id}/{audience}/{channel_digest}"


@dataclass(frozen=True)
class ExerciseMessage:
    """A message an exercise notice would have sent: for the exercise's report."""

    idempotency_key: str
    notice_id: str
    notice_kind: str
    incident_id: str
    audience: str
    subject: str
    text: str


class ExerciseNotices:
    """Where exercise notices go instead of any channel (like ``ExerciseSink.sent``)."""

    def __init__(self) -> None:
        self.sent: list[ExerciseMessage] = []


class NoticeActivities:
    def __init__(
        self,
        transactions: Transactions,
        contacts: Contacts,
        renderer: NoticeRenderer,
        sender: ChannelSender,
        *,
        exercise_notices: ExerciseNotices | None = None,
        concurrency: int = 8,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._transactions = transactions
        self._contacts = contacts
        self.renderer = renderer
        self._outbox = Outbox(transactions, sender, concurrency)
        self.exercise_notices = exercise_notices or ExerciseNotices()
        self._clock = clock

    @activity.defn(name=ACTIVITY_SEND_NOTICE)
    async def send_notice(self, notice: NoticeInput) -> NoticeResult:
        bound = log.bind(
            incident_id=notice.incident_id,
            notice_id=notice.notice_id,
            notice_kind=str(notice.notice_kind),
        )
        targets, unconfigured = self._targets(notice)
        if unconfigured:  # never a silent drop: named here, and in the result for the ledger
            bound.warning("notice.unconfigured_audiences", audiences=list(unconfigured))
        # Alive while it sends: a worker killed mid-send is noticed within the heartbeat
        # timeout, and the next attempt sends only what the outbox does not hold delivered.
        beating = asyncio.create_task(_heartbeat())
        try:
            outcomes = await self._outbox.attempt(targets)
        finally:
            beating.cancel()

        failed = [o for o in outcomes if o.result is Result.FAILED]
        attempt = activity.info().attempt
        retry = (
            bool(failed)
            and attempt < notice.max_attempts
            and (notice.deliver_until is None or self._clock() < notice.deliver_until)
        )
        await self._outbox.settle(outcomes, final=not retry)
        if notice.exercise:
            self._keep_exercise(notice, outcomes)
        if retry:
            bound.warning(
                "notice.retrying", undelivered=len(failed), of=len(outcomes), attempt=attempt
            )
            raise ApplicationError(
                f"notice {notice.notice_id}: {len(failed)} of {len(outcomes)} messages not "
                f"delivered (attempt {attempt} of {notice.max_attempts}); first: "
                f"{failed[0].target.claim.channel[:80]}: {failed[0].error}",
                type=NOTICE_UNDELIVERED,
            )
        result = _result(notice, outcomes, unconfigured)
        if result.undelivered:
            bound.error(
                "notice.undelivered",
                undelivered=[(u.audience, u.channel) for u in result.undelivered],
                attempt=attempt,
            )
        return result

    def _targets(self, notice: NoticeInput) -> tuple[list[Target], list[str]]:
        targets: dict[str, Target] = {}
        unconfigured: list[str] = []
        for addressee in notice.addressees:
            audience = addressee.audience
            if notice.exercise:
                # Every addressee, configured or not: an exercise rehearses the whole plan.
                key = delivery_key(notice.notice_id, audience, url_digest(EXERCISE_CHANNEL))
                if key not in targets:
                    targets[key] = Target(
                        self._claim(notice, audience, key, EXERCISE_CHANNEL, True),
                        self.renderer.render_cleared(notice, addressee),
                    )
                continue
            channels = self._contacts.channels(audience)
            if not channels:
                if audience not in unconfigured:
                    unconfigured.append(audience)
                continue
            rendered = self.renderer.render(notice, addressee)
            for channel in channels:
                key = delivery_key(notice.notice_id, audience, channel.digest)
                message = rendered.cleared if channel.cleared else rendered.uncleared
                claim = self._claim(notice, audience, key, channel.privacy, channel.cleared)
                targets.setdefault(key, Target(claim, message, channel))
        return list(targets.values()), unconfigured

    @staticmethod
    def _claim(notice: NoticeInput, audience: str, key: str, channel: str, cleared: bool) -> Claim:
        return Claim(
            idempotency_key=key,
            incident_id=notice.incident_id,
            notice_id=notice.notice_id,
            notice_kind=str(notice.notice_kind),
            audience=audience,
            channel=channel,
            cleared=cleared,
        )

    def _keep_exercise(self, notice: NoticeInput, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.result is Result.DELIVERED:  # not again on a repeated notice
                claim = outcome.target.claim
                self.exercise_notices.sent.append(
                    ExerciseMessage(
                        idempotency_key=claim.idempotency_key,
                        notice_id=notice.notice_id,
                        notice_kind=str(notice.notice_kind),
                        incident_id=notice.incident_id,
                        audience=claim.audience,
                        subject=outcome.target.message.subject,
                        text=outcome.target.message.text,
                    )
                )


HEARTBEAT_EVERY_S = 2.0


async def _heartbeat() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(HEARTBEAT_EVERY_S)


def _result(notice: NoticeInput, outcomes: list[Outcome], unconfigured: list[str]) -> NoticeResult:
    reached = [o for o in outcomes if o.result in (Result.DELIVERED, Result.ALREADY)]
    delivered = dict.fromkeys(o.target.claim.audience for o in reached)
    return NoticeResult(
        notice_id=notice.notice_id,
        recipients=len(reached),
        delivered=tuple(delivered),
        undelivered=tuple(
            Undelivered(o.target.claim.audience, o.target.claim.channel, o.error or "")
            for o in outcomes
            if o.result in (Result.REFUSED, Result.FAILED)
        ),
        unconfigured=tuple(unconfigured),
        already_delivered=sum(o.result is Result.ALREADY for o in outcomes),
        channels=tuple(dict.fromkeys(o.target.claim.channel for o in outcomes)),
    )
