"""A contingency plan as frozen data.

These classes travel inside the workflow input, so they are plain dataclasses of primitives
that Temporal's JSON converter round-trips, and they carry no behaviour that touches the world.
"""

# No `from __future__ import annotations`: these dataclasses travel as Temporal payloads, and
# the SDK's converter resolves their type hints on every decode; string annotations would be
# compiled and evaluated again for each one.

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property


class Condition(StrEnum):
    """What meets a deadline of the plan, and what an escalation rule waits for (the rule fires
    unless it holds at its time)."""

    VERIFIED = "verified"
    QUORUM = "quorum"
    DISPATCHED = "dispatched"
    AUTHORIZED = "authorized"
    ACTIVATED = "activated"


class WhenUnverified(StrEnum):
    CLOSE = "close"
    PRESUME = "presume"


@dataclass(frozen=True)
class EscalationLevel:
    level: int
    authority: str


@dataclass(frozen=True)
class Quorum:
    min_committed: int
    required_assets: tuple[str, ...]


@dataclass(frozen=True)
class DiplomaticStep:
    id: str
    title: str


@dataclass(frozen=True)
class KindPolicy:
    kind: str
    title: str
    when_unverified: WhenUnverified
    consultation: bool
    military_response: bool
    diplomatic_steps: tuple[str, ...]


@dataclass(frozen=True)
class Deadline:
    """One step of the plan: its condition must hold by T0 + ``due_hours``.

    Inclusive: whatever reaches the engine at the due instant itself counts as on time. The
    verdict (met or missed) is judged at the due instant; a missed deadline's consequence (close
    unverified, proceed on presumption) applies only if its condition still fails when the
    engine processes it.
    """

    name: str
    title: str
    due_hours: float
    condition: Condition
    # Activation needs this step's condition (verification: verified or presumed).
    required_for_activation: bool


@dataclass(frozen=True)
class EscalationRule:
    at_hours: float
    unless: Condition
    level: int
    reason: str
    # Empty means every kind to which the condition applies.
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Communications:
    """Who is told what, and when, beyond the deadlines themselves (workflows/notices.py)."""

    # Offsets from T0 at which parties that have not answered the consultation are reminded;
    # an offset already past when the incident opens is skipped.
    reminder_hours: tuple[float, ...] = ()
    # An escalation notice nobody has acknowledged goes out again at this interval.
    escalation_repeat_minutes: float = 60.0
    # Attempts per recipient before it is recorded undelivered (or the deadline the notice
    # serves passes first).
    delivery_attempts: int = 5


NO_COMMUNICATIONS = Communications()


@dataclass(frozen=True)
class ReviewEscalation:
    """What the ``missed``-th review missed in a row escalates to."""

    missed: int
    level: int
    reason: str


@dataclass(frozen=True)
class Reports:
    """How the plan treats several reports of what may be one offensive."""

    # Open incidents of this plan whose T0 lie within this many hours of each other are
    # suggested as related (GET /v1/incidents/{id}/related); only a person merges them.
    related_within_hours: float
    # A report may date its violation this many hours before it reached the cell on its own;
    # further back, T0 is held at that bound until an operator confirms it (``correct_t0``), so
    # a mistyped date cannot fire a week of deadlines, and page heads of government, at once.
    # None: no bound (the intake's one year).
    confirm_observed_beyond_hours: float | None = None


@dataclass(frozen=True)
class AfterActivation:
    """The response's life after activation (workflows/state.py): it stays open in ``phase``
    until an operator terminates it or ``max_days`` pass, with a review decision due every
    ``review_every_hours``; a withdrawal that breaks the quorum escalates and calls for
    replacements."""

    # The phase the response is in while active (the engine knows one: ``active``).
    phase: str
    title: str
    review_every_hours: float
    # Consecutive missed reviews -> escalation; the highest ``missed`` not above the count wins.
    review_missed: tuple[ReviewEscalation, ...]
    # Plan days after activation at which the response ends by itself, with this rationale.
    max_days: float
    limit_reason: str
    withdrawal_level: int
    withdrawal_reason: str

    def review_escalation(self, missed: int) -> ReviewEscalation | None:
        fitting = [r for r in self.review_missed if r.missed <= missed]
        return max(fitting, key=lambda r: r.missed, default=None)


@dataclass(frozen=True)
class Plan:
    id: str
    title: str
    version: int
    activation_window_hours: float
    verification_due_hours: float
    min_sources: int
    consultation_due_hours: float
    parties: tuple[str, ...]
    assets: tuple[str, ...]
    quorum: Quorum
    diplomacy_due_hours: float
    steps: tuple[DiplomaticStep, ...]
    authorization_due_hours: float
    kinds: tuple[KindPolicy, ...]
    escalation_levels: tuple[EscalationLevel, ...]
    escalations: tuple[EscalationRule, ...]
    # Last, with a default: plans pinned in incidents that started before it decode unchanged.
    communications: Communications = NO_COMMUNICATIONS
    # Absent: the response ends at activation, as before the section existed.
    after_activation: AfterActivation | None = None
    # Absent: no relations are suggested between its incidents.
    reports: Reports | None = None

    @cached_property
    def deadlines(self) -> tuple[Deadline, ...]:
        """The plan's steps, in plan order: the one table every reader uses.

        Derived from the plan's fields rather than stored, so plans pinned in the inputs of
        incidents already running (and in recorded histories) decode unchanged. Built once per
        plan object (not a field: equality, payloads and the digest see only the fields): the
        state machine reads it at every step, and a sweep takes tens of thousands of steps.
        """
        return (
            Deadline("verification", "Verification", self.verification_due_hours, Condition.VERIFIED, True),
            Deadline("consultation", "Allied consultation quorum", self.consultation_due_hours, Condition.QUORUM, True),
            Deadline("diplomacy", "Diplomatic steps dispatched", self.diplomacy_due_hours, Condition.DISPATCHED, False),
            Deadline("authorization", "Military authorization", self.authorization_due_hours, Condition.AUTHORIZED, True),
            Deadline("activation", "Activation", self.activation_window_hours, Condition.ACTIVATED, False),
        )  # fmt: skip

    @cached_property
    def required_for_activation(self) -> tuple[Deadline, ...]:
        """The steps activation needs, in plan order (asked at every input and wake-up)."""
        return tuple(d for d in self.deadlines if d.required_for_activation)

    def deadline(self, name: str) -> Deadline:
        for deadline in self.deadlines:
            if deadline.name == name:
                return deadline
        raise KeyError(name)

    def kind(self, name: str) -> KindPolicy:
        return self._kinds_by_name[name]

    @cached_property
    def _kinds_by_name(self) -> dict[str, KindPolicy]:
        # The state machine asks for its kind's policy at every step.
        return {policy.kind: policy for policy in self.kinds}

    def has_kind(self, name: str) -> bool:
        return any(policy.kind == name for policy in self.kinds)

    def step(self, step_id: str) -> DiplomaticStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def authority(self, level: int) -> str:
        for entry in self.escalation_levels:
            if entry.level == level:
                return entry.authority
        return f"level {level}"

    @property
    def kind_names(self) -> tuple[str, ...]:
        return tuple(policy.kind for policy in self.kinds)
