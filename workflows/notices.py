"""What the engine tells people: the kinds of notice, who they are addressed to, and what each
carries. The workflow decides when a notice is due and mints its id; the notice activity
(activities/notify.py) resolves the audiences through the contacts file, renders the message and
delivers it to every recipient once.

An audience is a name the contacts file maps to channels: ``party:<name>`` for a guarantor
party, ``level:<n>`` for the authority of an escalation level, ``cell`` for the crisis cell and
``step:<step>`` for a diplomatic step's addressee.
"""

# No `from __future__ import annotations`: these dataclasses travel as Temporal payloads.

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

CELL = "cell"


def party_audience(party: str) -> str:
    return f"party:{party}"


def level_audience(level: int) -> str:
    return f"level:{level}"


def step_audience(step: str) -> str:
    return f"step:{step}"


def audience_party(audience: str) -> str | None:
    """The party an audience names, or None for another kind of audience."""
    kind, _, name = audience.partition(":")
    return name if kind == "party" and name else None


class NoticeKind(StrEnum):
    CONSULTATION_REQUEST = "consultation_request"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    ACTIVATION_ORDER = "activation_order"
    CLOSE = "close"
    # After activation: a withdrawal broke the quorum; the parties not committed are asked to
    # replace it (they answer as to a consultation), and the cell is told.
    CALL_FOR_REPLACEMENT = "call_for_replacement"


@dataclass(frozen=True)
class Addressee:
    """One audience of a notice, with what is addressed to it alone: a party's assets in an
    activation order, whether its message carries an answer or acknowledgement link."""

    audience: str
    assets: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoticeFacts:
    """The incident's facts as the notice states them (rendered by the templates). Text here is
    short: labels and the first characters of a rationale, never evidence."""

    plan_id: str
    plan_title: str
    kind: str
    kind_title: str
    sector: str
    t0: datetime
    escalation_level: int
    level_title: str
    # The deadline the notice serves (consultation's due time for a request, ...), if any.
    deadline: datetime | None = None
    deadline_label: str | None = None
    # Why the ladder moved: every rule that fired in that instant (escalation notices).
    reasons: tuple[str, ...] = ()
    # The n-th repeat of an unacknowledged escalation notice (0 for the first sending).
    repeat: int = 0
    outcome: str | None = None
    unmet_conditions: tuple[str, ...] = ()
    rationale: str | None = None
    # Which party's answers are still awaited (reminders), and the assets the plan asks for.
    assets_requested: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoticeInput:
    """One notice, fanned out by one activity to every recipient of its audiences.

    ``notice_id`` is deterministic (minted by the workflow from the incident's workflow id and a
    counter carried across runs): with the recipient it makes each message's idempotency key, so
    a retried or repeated activity never delivers a second distinct message.
    """

    notice_id: str
    notice_kind: NoticeKind
    incident_id: str
    workflow_id: str
    exercise: bool
    addressees: tuple[Addressee, ...]
    facts: NoticeFacts
    # The notice asks its recipients to acknowledge it (escalation) or to answer (requests).
    needs_ack: bool = False
    needs_answer: bool = False
    # Deliveries are retried until this many attempts, or until this time (the deadline the
    # notice serves), whichever comes first; then the recipient is recorded undelivered.
    max_attempts: int = 5
    deliver_until: datetime | None = None
    # The escalation notice an acknowledgement link in this message acknowledges: the notice
    # itself, or for a repeat the notice it repeats ("" when nothing is to be acknowledged).
    acknowledges: str = ""


@dataclass(frozen=True)
class Undelivered:
    audience: str
    channel: str  # Apprise's privacy form of the URL: never a secret
    error: str


@dataclass(frozen=True)
class NoticeResult:
    notice_id: str
    recipients: int  # channel deliveries the notice made or found already made
    delivered: tuple[str, ...] = ()  # audiences reached on at least one channel
    undelivered: tuple[Undelivered, ...] = ()
    unconfigured: tuple[str, ...] = ()  # audiences with no channel in the contacts file
    already_delivered: int = 0  # of the recipients, how many an earlier attempt had reached
    channels: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class AwaitedAck:
    """An escalation notice that nobody has acknowledged yet: repeated until someone does."""

    notice_id: str
    level: int
    authority: str
    first_sent_at: datetime
    last_sent_at: datetime
    repeats: int
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommunicationsRecord:
    """What the incident has said so far, carried from one run to the next."""

    sent: int = 0
    queue: tuple[NoticeInput, ...] = ()
    requested: bool = False
    reminders_done: tuple[float, ...] = ()
    notified_level: int = 1
    escalations_seen: int = 0
    awaiting: tuple[AwaitedAck, ...] = ()
    acknowledged: tuple[str, ...] = ()
    engaged: tuple[str, ...] = ()
    closed: bool = False
    delivered: int = 0  # notices the activity reported on
    undelivered: int = 0  # recipients recorded undelivered
    # The activation orders are queued (at activation for an active response, else at close).
    ordered: bool = False
    reported: int = 0  # notices whose activity has reported back (delivered or not)
