"""The workflow's sequence over the plan's state machine, as pure functions.

The workflow (``workflows/incident.py``), the sweep's fast path (``exercises/fastpath.py``) and
the property tests all drive :class:`~workflows.state.IncidentState` through these, so the order
in which things happen — a validator on a preview, the input with what fell due before it, the
advance when a timer wakes the incident, a step's result as an input of its own — is written
once. The workflow adds what only Temporal gives (durable timers, updates, activities); without
Temporal, :func:`wake_until` plays the timer and an :class:`Effects` plays the activities.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from workflows.activity_inputs import DispatchResult
from workflows.messages import Decision
from workflows.notices import NoticeInput, NoticeResult
from workflows.state import UNKNOWN, Change, IncidentState, Rejected, Unknown

# A validator's check, on the state as the input will find it.
Check = Callable[[IncidentState], None]
# What became of a diplomatic step: the sink's receipt, its refusal, or None if it never went.
StepResult = DispatchResult | str | None
# What became of a notice: the activity's result, or why the activity itself failed for good.
NoticeOutcome = NoticeResult | str


def validate(
    state: IncidentState,
    now: datetime,
    change: Change,
    check: Check,
    due: datetime | Unknown | None = UNKNOWN,
) -> None:
    """An update's validator: ``check`` on the state as the input arriving at ``now`` will find
    it (what falls due first has fired there). Raises :class:`Rejected`; never changes ``state``.
    ``due``: ``state.next_event_at()``, if the caller has just worked it out."""
    check(state.preview(now, change, due=due))


def apply(state: IncidentState, now: datetime, change: Change) -> list[Decision]:
    """An accepted input: what fell due before ``now`` is judged first, then the input, then what
    it completes. Raises :class:`Rejected` if a deadline fell due between validator and apply."""
    return state.receive(now, change)


def advance(state: IncidentState, now: datetime) -> None:
    """A wake-up with no input (the workflow's timer): fire everything due by ``now``."""
    state.advance(now)


def record_dispatch(state: IncidentState, now: datetime, step: str, result: StepResult) -> None:
    """A step's result reaching the incident at ``now``."""

    def record(s: IncidentState, at: datetime) -> None:
        if isinstance(result, DispatchResult):
            s.dispatch_succeeded(step, at, result.channel)
        elif result is None:
            s.dispatch_cancelled(step, at)
        else:
            s.dispatch_failed(step, at, result)

    if state.rules.judged_at_due:
        # A result is an input like any other: what fell due before it is judged first.
        state.receive(now, record)
    else:
        record(state, now)


def record_notice(
    state: IncidentState, now: datetime, notice: NoticeInput, outcome: NoticeOutcome
) -> None:
    """A notice's result reaching the incident at ``now``: an input like any other."""

    def record(s: IncidentState, at: datetime) -> None:
        if isinstance(outcome, NoticeResult):
            s.notice_result(notice, outcome, at)
        else:
            s.notice_failed(notice, outcome, at)

    state.receive(now, record)


# -- without Temporal ---------------------------------------------------------------------------


class Effects(Protocol):
    """What the workflow's activities would answer, for a run without Temporal."""

    def dispatch(self, state: IncidentState, step: str, now: datetime) -> StepResult: ...

    def notify(self, state: IncidentState, notice: NoticeInput, now: datetime) -> NoticeOutcome:
        """The notice's outcome, fed back as the workflow feeds it back."""
        ...


def settle(state: IncidentState, now: datetime, effects: Effects) -> None:
    """Carry out the effects the state asks for and feed their results back, in the plan's order
    (the workflow records results in the order the steps started), until nothing is queued.

    An effect whose result never changes the plan's outcome (a notice recorded as delivered)
    belongs here too: a run without Temporal treats it as done at once, as an exercise sees it.
    """
    while state.dispatch_queue or state.comms.queue:
        while state.dispatch_queue:
            step = state.dispatch_queue.pop(0)
            record_dispatch(state, now, step, effects.dispatch(state, step, now))
        for notice in state.take_notices():
            record_notice(state, now, notice, effects.notify(state, notice, now))


def settled(state: IncidentState) -> bool:
    """Where a run without Temporal stops waking: closed, or activated and active (an active
    response would otherwise live to the plan's limit; an exercise ends it there)."""
    return not state.is_open or state.active


def wake_until(
    state: IncidentState,
    moment: datetime | None,
    effects: Effects,
    until: Callable[[IncidentState], bool] | None = None,
) -> datetime | None:
    """The workflow's durable timer: wake at each due time before ``moment`` (every one, to the
    close, when None), stopping early once ``until`` holds. An input at ``moment`` itself reaches
    the workflow before a timer due then (Temporal delivers updates first) and counts as on time.
    Returns when the incident is next due, as it stands when the waking stops."""
    while (
        (due := state.next_event_at()) is not None
        and (moment is None or due < moment)
        and not (until is not None and until(state))
    ):
        advance(state, max(due, state.reported_at))
        settle(state, max(due, state.reported_at), effects)
    return due


@dataclass(frozen=True)
class TimedInput:
    """An input and the moment it reaches the incident."""

    at: datetime
    change: Change
    check: Check


def drive(
    state: IncidentState, inputs: Iterable[TimedInput], effects: Effects
) -> list[Rejected | list[Decision]]:
    """Run an incident to its end as the workflow would, without Temporal: for each input (in
    time order) the refusal the caller would get, or the decisions it led to.

    ``state`` is as the workflow's first task leaves it: just built, at its report time.
    """
    now = state.reported_at
    advance(state, now)
    settle(state, now, effects)
    answers: list[Rejected | list[Decision]] = []
    for item in inputs:
        due = wake_until(state, item.at, effects)
        now = max(now, item.at)
        try:
            validate(state, now, item.change, item.check, due)
            recorded = apply(state, now, item.change)
        except Rejected as exc:
            answers.append(exc)
            continue
        # The workflow's loop advances again once the update has been applied; ``apply`` has
        # already advanced to ``now``, so only the effects remain.
        settle(state, now, effects)
        answers.append(recorded)
    wake_until(state, None, effects, settled)
    return answers
