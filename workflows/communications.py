"""When the incident tells people, and what: the plan's communications as a pure state machine.

:class:`IncidentState` owns one :class:`Communications` and calls :meth:`Communications.catch_up`
after every change: it queues the notices that change made due (a consultation opening, the
ladder moving, the outcome) and those whose time came (reminders, repeats of an escalation
notice nobody acknowledged). The workflow sends what is queued, one activity per notice, and
hands the result back (``IncidentState.notice_result``), which records it in the ledger.

Notices never hold up the plan: nothing here is a condition of a deadline, and a notice queued
is sent by a task of its own while the deadlines go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from workflows.clock import format_offset
from workflows.messages import Answer, Outcome
from workflows.notices import (
    CELL,
    Addressee,
    AwaitedAck,
    CommunicationsRecord,
    NoticeFacts,
    NoticeInput,
    NoticeKind,
    level_audience,
    party_audience,
)

if TYPE_CHECKING:
    from workflows.state import IncidentState

# How much of an operator's rationale a notice quotes (the ledger holds all of it).
RATIONALE_IN_NOTICE = 280


@dataclass
class Communications:
    """What has been said so far, carried from run to run."""

    sent: int = 0  # notices queued so far: the counter in every notice id
    queue: list[NoticeInput] = field(default_factory=list)
    requested: bool = False  # the consultation request went out
    reminders_done: list[float] = field(default_factory=list)  # offsets handled (sent or skipped)
    notified_level: int = 1
    escalations_seen: int = 0  # how many of the state's escalations earlier notices covered
    awaiting: list[AwaitedAck] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    engaged: list[str] = field(default_factory=list)  # audiences addressed so far
    closed: bool = False  # the activation order and close notice are queued
    delivered: int = 0
    undelivered: int = 0
    ordered: bool = False  # the activation orders are queued
    reported: int = 0  # notices whose activity has reported back

    def record(self) -> CommunicationsRecord:
        return CommunicationsRecord(
            **{f.name: _frozen(getattr(self, f.name)) for f in fields(CommunicationsRecord)}
        )

    @classmethod
    def resumed(cls, record: CommunicationsRecord) -> Communications:
        return cls(**{f.name: _thawed(getattr(record, f.name)) for f in fields(record)})

    @classmethod
    def opening(cls, state: IncidentState, now: datetime) -> Communications:
        """A new incident's: reminder offsets already past when it opens are skipped."""
        hours = state.plan.communications.reminder_hours
        return cls(reminders_done=[h for h in hours if state.clock.at(h) <= now])

    # -- what falls due ---------------------------------------------------------------------

    def next_at(self, state: IncidentState) -> datetime | None:
        """The next moment a notice falls due by itself (a reminder, a repeat), while open."""
        if not state.is_open:
            return None
        # A repeat changes nothing a verdict reads (the page stays awaited, the ladder where it
        # is): a verdict-only run does not wake up for one.
        moments = [] if state.verdict_only else [self._repeat_at(state, a) for a in self.awaiting]
        reminders = [
            h for h in state.plan.communications.reminder_hours if h not in self.reminders_done
        ]
        if reminders and self._consulting(state) and self._someone_unanswered(state):
            moments += [state.clock.at(h) for h in reminders]
        return min(moments, default=None)

    def next_label(self, state: IncidentState, at: datetime) -> list[str]:
        labels = []
        offset = format_offset(state.clock.hours_since_t0(at))
        for awaited in self.awaiting:
            if self._repeat_at(state, awaited) == at:
                labels.append(f"Level {awaited.level} notice unacknowledged: repeat {offset}")
        if self._consulting(state) and any(
            state.clock.at(h) == at
            for h in state.plan.communications.reminder_hours
            if h not in self.reminders_done
        ):
            labels.append(f"Remind the parties that have not answered {offset}")
        return labels

    def catch_up(self, state: IncidentState, now: datetime) -> None:
        """Queue every notice due by ``now``, in the order people should read them."""
        if not state.is_open:
            if not self.closed:
                self._closing(state, now)
            return
        if self._consulting(state):
            if not self.requested:
                self.requested = True
                self._queue(state, now, NoticeKind.CONSULTATION_REQUEST, self._parties(state))
            hours = state.plan.communications.reminder_hours
            if len(self.reminders_done) < len(hours):
                due = [
                    h for h in hours if h not in self.reminders_done and state.clock.at(h) <= now
                ]
                if due:  # several missed while the engine was away: one reminder, not a burst
                    self.reminders_done += due
                    waiting = self._unanswered(state)
                    if waiting:
                        self._queue(state, now, NoticeKind.REMINDER, waiting)
        if state.escalation_level > self.notified_level or self._escalated_while_active(state):
            self._escalation_notice(state, now)
        else:
            self.escalations_seen = len(state.escalations)
        if self.awaiting and not state.verdict_only:
            for awaited in list(self.awaiting):
                if self._repeat_at(state, awaited) <= now:
                    self._repeat(state, now, awaited)
        if state.active and not self.ordered:
            # Activated, and open: the orders go out now, the close notice at termination.
            self._activation_orders(state, now)

    def order(self, state: IncidentState, now: datetime, party: str) -> None:
        """An activation order to one party that committed after activation (a replacement)."""
        commitment = state.commitments[party]
        self._queue(
            state,
            now,
            NoticeKind.ACTIVATION_ORDER,
            (Addressee(party_audience(party), assets=commitment.assets),),
        )

    def call_for_replacement(self, state: IncidentState, now: datetime, reason: str) -> None:
        """A withdrawal broke the active response's quorum: every party not committed is asked
        to commit (with an answer link, as in a consultation), and the cell is told."""
        committed = {p for p, c in state.commitments.items() if c.answer is Answer.COMMIT}
        parties = tuple(
            Addressee(party_audience(p)) for p in state.plan.parties if p not in committed
        )
        self._queue(
            state,
            now,
            NoticeKind.CALL_FOR_REPLACEMENT,
            (*parties, Addressee(CELL)),
            reasons=(reason,),
        )

    # -- acknowledgements -------------------------------------------------------------------

    def awaited(self, notice_id: str) -> AwaitedAck | None:
        return next((a for a in self.awaiting if a.notice_id == notice_id), None)

    def acknowledge(self, notice_id: str) -> AwaitedAck:
        awaited = self.awaited(notice_id)
        assert awaited is not None  # the validator checked
        self.awaiting.remove(awaited)
        self.acknowledged.append(notice_id)
        return awaited

    # -- internals --------------------------------------------------------------------------

    def _consulting(self, state: IncidentState) -> bool:
        return state.deciding and state.policy.consultation

    def _escalated_while_active(self, state: IncidentState) -> bool:
        """An escalation of an active response (a missed review, a withdrawal) pages its level
        even when the incident is already there: at the top level the notice goes out again."""
        if not state.active or state.activated_at is None:
            return False
        activated_at = state.activated_at
        return any(e.at >= activated_at for e in state.escalations[self.escalations_seen :])

    def _parties(self, state: IncidentState) -> tuple[Addressee, ...]:
        answered = set(state.commitments)
        return tuple(Addressee(party_audience(p)) for p in state.plan.parties if p not in answered)

    def _unanswered(self, state: IncidentState) -> tuple[Addressee, ...]:
        return self._parties(state)

    def _someone_unanswered(self, state: IncidentState) -> bool:
        return any(p not in state.commitments for p in state.plan.parties)

    def _repeat_at(self, state: IncidentState, awaited: AwaitedAck) -> datetime:
        interval = timedelta(minutes=state.plan.communications.escalation_repeat_minutes)
        return awaited.last_sent_at + state.clock.scaled(interval)

    def _escalation_notice(self, state: IncidentState, now: datetime) -> None:
        level = state.escalation_level
        fresh = state.escalations[self.escalations_seen :]
        # Every rule that fired in this instant, the one that raised the level among them.
        reasons = tuple(e.reason for e in fresh if e.at == now) or tuple(e.reason for e in fresh)
        self.escalations_seen = len(state.escalations)
        self.notified_level = level
        notice_id = self._queue(
            state,
            now,
            NoticeKind.ESCALATION,
            (Addressee(level_audience(level)), Addressee(CELL)),
            reasons=reasons,
            needs_ack=True,
        )
        self.awaiting.append(
            AwaitedAck(
                notice_id=notice_id,
                level=level,
                authority=state.plan.authority(level),
                first_sent_at=now,
                last_sent_at=now,
                repeats=0,
                reasons=reasons,
            )
        )

    def _repeat(self, state: IncidentState, now: datetime, awaited: AwaitedAck) -> None:
        repeats = awaited.repeats + 1
        self._queue(
            state,
            now,
            NoticeKind.ESCALATION,
            (Addressee(level_audience(awaited.level)), Addressee(CELL)),
            reasons=awaited.reasons,
            needs_ack=True,
            repeat=repeats,
            level=awaited.level,
            acknowledges=awaited.notice_id,
        )
        index = self.awaiting.index(awaited)
        self.awaiting[index] = replace(awaited, last_sent_at=now, repeats=repeats)

    def _closing(self, state: IncidentState, now: datetime) -> None:
        self.closed = True
        self.awaiting.clear()  # nothing is awaited of a closed incident: the repeats stop
        if state.outcome is Outcome.ACTIVATED and not self.ordered:
            self._activation_orders(state, now)
        everyone = [a for a in self.engaged if a != CELL] + [CELL]
        self._queue(
            state,
            now,
            NoticeKind.CLOSE,
            tuple(Addressee(a) for a in everyone),
            rationale=state.closing_rationale()[:RATIONALE_IN_NOTICE],
        )

    def _activation_orders(self, state: IncidentState, now: datetime) -> None:
        self.ordered = True
        committed = tuple(
            Addressee(party_audience(p), assets=c.assets)
            for p, c in sorted(state.commitments.items())
            if c.answer is Answer.COMMIT
        )
        if committed:
            self._queue(state, now, NoticeKind.ACTIVATION_ORDER, committed)

    def _queue(
        self,
        state: IncidentState,
        now: datetime,
        kind: NoticeKind,
        addressees: tuple[Addressee, ...],
        *,
        reasons: tuple[str, ...] = (),
        needs_ack: bool = False,
        repeat: int = 0,
        level: int | None = None,
        acknowledges: str = "",
        rationale: str | None = None,
    ) -> str:
        """The notice's id; the notice itself joins the queue (unless the run needs only the
        verdict: IncidentState.verdict_only)."""
        self.sent += 1
        notice_id = f"{state.workflow_id}/{self.sent:04d}-{kind}"
        for addressee in addressees:
            if addressee.audience not in self.engaged:
                self.engaged.append(addressee.audience)
        if state.verdict_only:
            return notice_id
        deadline, label = self._deadline_for(state, kind)
        level = state.escalation_level if level is None else level
        facts = NoticeFacts(
            plan_id=state.plan.id,
            plan_title=state.plan.title,
            kind=state.kind,
            kind_title=state.policy.title,
            sector=", ".join(state.sectors),
            t0=state.clock.t0,
            escalation_level=level,
            level_title=state.plan.authority(level),
            deadline=deadline,
            deadline_label=label,
            reasons=reasons,
            repeat=repeat,
            outcome=None if state.outcome is None else str(state.outcome),
            unmet_conditions=tuple(state.unmet) if state.outcome is not None else (),
            rationale=rationale,
            assets_requested=state.plan.assets if kind in _ANSWERED else (),
        )
        notice = NoticeInput(
            notice_id=notice_id,
            notice_kind=kind,
            incident_id=state.input.incident_id,
            workflow_id=state.workflow_id,
            exercise=state.input.exercise,
            addressees=addressees,
            facts=facts,
            needs_ack=needs_ack,
            needs_answer=kind in _ANSWERED,
            max_attempts=state.plan.communications.delivery_attempts,
            deliver_until=self._deliver_until(state, kind, deadline, now),
            acknowledges=acknowledges or (notice_id if needs_ack else ""),
        )
        self.queue.append(notice)
        return notice_id

    def _deadline_for(
        self, state: IncidentState, kind: NoticeKind
    ) -> tuple[datetime | None, str | None]:
        if kind in _ASKING:
            hours = state.plan.consultation_due_hours
            return state.clock.at(hours), format_offset(hours)
        if kind is NoticeKind.ESCALATION:
            due = state.next_due()
            if due is not None:
                return due.due_at, due.title
        return None, None

    def _deliver_until(
        self, state: IncidentState, kind: NoticeKind, deadline: datetime | None, now: datetime
    ) -> datetime | None:
        """Past this, a recipient still unreached is recorded undelivered: a request is moot
        once its deadline passed; a page is superseded by its repeat."""
        if kind in _ASKING and deadline is not None and deadline > now:
            return deadline
        if kind is NoticeKind.ESCALATION:
            interval = timedelta(minutes=state.plan.communications.escalation_repeat_minutes)
            return now + state.clock.scaled(interval)
        return None


def _frozen(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _thawed(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


_ASKING = frozenset({NoticeKind.CONSULTATION_REQUEST, NoticeKind.REMINDER})
# Notices whose parties answer with a commitment (answer links, the assets asked for).
_ANSWERED = _ASKING | {NoticeKind.CALL_FOR_REPLACEMENT}
