"""What goes into and comes out of the incident workflow: its input, updates, receipts and view.

Kinds of violation are plan data (a second plan may name others), so they travel as strings
and are checked against the pinned plan; the engine's own vocabulary is enumerated here.
"""

# No `from __future__ import annotations`: these dataclasses travel as Temporal payloads, and
# the SDK's converter resolves their type hints on every decode; string annotations would be
# compiled and evaluated again for each one.

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from plans.model import Plan
from workflows.limits import RunLimits
from workflows.notices import AwaitedAck, CommunicationsRecord


class Phase(StrEnum):
    VERIFICATION = "verification"
    CONSULTATION = "consultation"
    AUTHORIZATION = "authorization"
    MONITORING = "monitoring"
    # Activated, and still open: forces deployed until termination or the plan's limit (the
    # plan's after_activation section).
    ACTIVE = "active"
    CLOSED = "closed"


class Outcome(StrEnum):
    ACTIVATED = "activated"
    NOT_ACTIVATED = "not_activated"
    UNVERIFIED_CLOSED = "unverified_closed"
    DIPLOMATIC_RESPONSE = "diplomatic_response"
    STOOD_DOWN = "stood_down"
    # Cancelled from Temporal (its Web UI or a client), outside the engine's own decisions.
    CANCELLED = "cancelled"
    # Folded into another open incident by an operator (``merge``): that incident carries on.
    MERGED = "merged"


class Awaiting(StrEnum):
    """Who the incident is waiting on, so operators can filter for what needs them."""

    EVIDENCE = "evidence"
    ALLIES = "allies"
    OPERATOR = "operator"
    CLOCK = "clock"
    NONE = "none"


class Verification(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    PRESUMED = "presumed"
    LAPSED = "lapsed"


class Action(StrEnum):
    CONFIRM = "confirm"
    AUTHORIZE = "authorize"
    STAND_DOWN = "stand_down"
    RECLASSIFY = "reclassify"
    # After activation (the plan's after_activation section): end the response, or review it.
    TERMINATE = "terminate"
    REVIEW = "review"
    # Fold this incident into another open one (``into``), or correct its T0 (``observed_at``).
    MERGE = "merge"
    CORRECT_T0 = "correct_t0"


class DeploymentStatus(StrEnum):
    """What a committed party reports after activation."""

    DEPLOYED = "deployed"
    WITHDRAWN = "withdrawn"


class Answer(StrEnum):
    COMMIT = "commit"
    DECLINE = "decline"


class DeadlineStatus(StrEnum):
    PENDING = "pending"
    MET = "met"
    MISSED = "missed"
    MOOT = "moot"  # the incident closed before it fell due
    NOT_APPLICABLE = "not_applicable"


class RefusalReason(StrEnum):
    INVALID = "invalid"  # the input itself is wrong (422)
    CONFLICT = "conflict"  # well-formed, but the incident's state refuses it (409)


@dataclass(frozen=True)
class Refusal:
    """Why the workflow refused an input: the details of its ``Rejected`` error."""

    field: str | None
    reason: RefusalReason


@dataclass(frozen=True)
class TextRef:
    """Text too long to travel in the workflow: the API stored it in the database (``texts``);
    the workflow carries its first characters and this, and the ledger seals the digest."""

    sha256: str
    chars: int


@dataclass(frozen=True)
class Evidence:
    source: str
    summary: str = ""
    summary_ref: TextRef | None = None


@dataclass(frozen=True)
class ViolationReport:
    report_id: str
    kind: str
    sector: str
    reported_by: str
    summary: str = ""
    observed_at: datetime | None = None  # T0; the report time when absent
    reported_at: datetime | None = (
        None  # when the report reached the cell; workflow start when absent
    )
    evidence: tuple[Evidence, ...] = ()
    # Who put the report into the engine (the API token's principal); the ledger's actor.
    submitted_by: str = ""
    summary_ref: TextRef | None = None


@dataclass(frozen=True)
class IncidentInput:
    incident_id: str
    report: ViolationReport
    plan: Plan  # pinned at start: editing a plan file never changes an incident in flight
    exercise: bool = False
    # Plan hours per real hour: 1 for a real incident, larger for a compressed exercise clock.
    time_scale: float = 1.0
    limits: RunLimits = field(default_factory=RunLimits)
    # Set when a run continues as new: where the incident stood when the last run handed over.
    carried: "CarriedState | None" = None


@dataclass(frozen=True)
class EvidenceInput:
    source: str
    summary: str = ""
    actor: str = ""
    summary_ref: TextRef | None = None


@dataclass(frozen=True)
class CommitmentInput:
    party: str
    answer: Answer
    assets: tuple[str, ...] = ()
    actor: str = ""
    rationale: str = ""
    rationale_ref: TextRef | None = None


@dataclass(frozen=True)
class DecisionInput:
    action: Action
    actor: str
    rationale: str
    new_kind: str | None = None  # reclassify only
    rationale_ref: TextRef | None = None
    into: str | None = None  # merge only: the incident that absorbs this one
    observed_at: datetime | None = None  # correct_t0 only: the violation's corrected time


class NoteKind(StrEnum):
    NOTE = "note"
    HANDOVER = "handover"  # a shift hands the response over to the next


@dataclass(frozen=True)
class NoteInput:
    """An entry of the cell's journal: recorded in the ledger, read by people, ignored by the
    plan's rules."""

    text: str
    actor: str
    kind: NoteKind = NoteKind.NOTE
    text_ref: TextRef | None = None


@dataclass(frozen=True)
class DeploymentInput:
    """A committed party's report after activation: assets deployed, or withdrawn."""

    party: str
    status: DeploymentStatus
    assets: tuple[str, ...]
    actor: str = ""
    rationale: str = ""
    rationale_ref: TextRef | None = None


@dataclass(frozen=True)
class DeploymentView:
    """Where a committed party's assets stand after activation."""

    party: str
    committed: tuple[str, ...]
    deployed: tuple[str, ...]
    withdrawn: tuple[str, ...]
    at: datetime  # the party's latest report (or its commitment)


@dataclass(frozen=True)
class AcknowledgeInput:
    """An escalation notice acknowledged for its whole audience: by one recipient's signed link
    (actor: the audience, via "link") or by an operator (actor: the operator, via "api")."""

    notice_id: str
    actor: str
    via: str = "api"


@dataclass(frozen=True)
class Decision:
    """One line of the audit trail, as the workflow decided it."""

    seq: int
    kind: str
    at: datetime
    t_plus_hours: float
    actor: str
    rationale: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    # The seal (workflows.chain): the run that decided it, and the chain up to it. Empty in
    # decisions of incidents started before the workflow sealed them (the ledger writer did).
    run_id: str = ""
    prev_hash: str = ""
    hash: str = ""


@dataclass(frozen=True)
class DecisionReceipt:
    """The workflow's answer to an accepted update, sent once its decisions are in the ledger."""

    incident_id: str
    seq: int
    decisions: tuple[str, ...]
    phase: Phase
    outcome: Outcome | None
    escalation_level: int
    message: str


@dataclass(frozen=True)
class CommitmentView:
    party: str
    answer: Answer
    assets: tuple[str, ...]
    at: datetime
    actor: str


@dataclass(frozen=True)
class MergedReport:
    """A report of an absorbed incident, as the absorbing one lists it."""

    report_id: str
    sector: str
    reported_by: str
    observed_at: datetime


@dataclass(frozen=True)
class MergeHandover:
    """What an incident folded into another hands over (``merge``): the absorbing incident
    takes its reports, sources and answers, its T0 if earlier, and the steps it already sent.
    Sent by the absorbed incident's activity with an update id derived from the merge."""

    incident_id: str  # the absorbed incident
    into: str  # the absorbing one
    actor: str
    rationale: str
    plan_id: str
    plan_version: int
    t0: datetime
    reports: tuple[MergedReport, ...]
    sources: tuple[str, ...]
    verified: bool  # verified there (sources, or an operator's confirmation)
    commitments: tuple[CommitmentView, ...]
    steps_sent: tuple[str, ...]  # started there: never sent a second time
    exercise: bool = False
    seq: int = 0  # the absorbed incident's merge decision: with its id, the update's id
    rationale_ref: TextRef | None = None


@dataclass(frozen=True)
class MergeResult:
    """What the absorbing incident answered: the response the merge leaves."""

    into: str
    seq: int  # the absorbing incident's decision that recorded the merge
    t0: datetime
    sectors: tuple[str, ...]
    reports: int


@dataclass(frozen=True)
class DeadlineView:
    name: str
    title: str
    due_at: datetime
    due_hours: float
    status: DeadlineStatus  # the verdict, judged at the due instant
    # When the step's condition last came to hold (late ones included), if it holds.
    met_at: datetime | None = None
    met_hours: float | None = None


@dataclass(frozen=True)
class PhaseChange:
    """The incident entered ``phase`` at ``at``."""

    phase: Phase
    at: datetime
    t_plus_hours: float


@dataclass(frozen=True)
class EscalationView:
    level: int
    authority: str
    at: datetime
    t_plus_hours: float
    reason: str


@dataclass(frozen=True)
class QuorumView:
    committed: tuple[str, ...]
    declined: tuple[str, ...]
    min_committed: int
    required_assets: tuple[str, ...]
    missing_assets: tuple[str, ...]
    holds: bool
    # False for a kind that needs no allied consultation: there is no quorum to show.
    applies: bool = True


class ScheduleKind(StrEnum):
    DEADLINE = "deadline"
    ESCALATION = "escalation"
    WINDOW = "window"
    REVIEW = "review"  # the next periodic review of an active response
    LIMIT = "limit"  # the plan's limit after activation


@dataclass(frozen=True)
class ScheduleEntry:
    """Something still to fall due: a pending deadline, an escalation check whose condition does
    not hold, or the close of the response window."""

    name: str
    title: str
    due_at: datetime
    due_hours: float
    kind: ScheduleKind = ScheduleKind.DEADLINE


def next_after(schedule: tuple[ScheduleEntry, ...], now: datetime) -> ScheduleEntry | None:
    """The next deadline: the first entry still ahead. A stored schedule (the read side's row)
    may lag the workflow, so readers skip what has passed rather than trust its head."""
    return next((entry for entry in schedule if entry.due_at > now), None)


# kw_only: the view extends the snapshot, and defaults may then sit anywhere; fields added since
# the first release have defaults, so payloads written by an older engine still decode.
@dataclass(frozen=True, kw_only=True)
class IncidentSnapshot:
    """The incident's header and where it stands: built by the state machine alone, and the one
    source of the read side's row, the search attributes, the views and the API's incident
    fields."""

    incident_id: str
    report_id: str
    plan_id: str
    plan_version: int
    kind: str
    sector: str
    reported_by: str
    summary: str
    exercise: bool
    t0: datetime  # the violation's observed time: every deadline runs from it
    reported_at: datetime
    window_closes_at: datetime
    phase: Phase
    outcome: Outcome | None
    escalation_level: int
    closed_at: datetime | None
    # What falls due next, in order (empty once closed); the next deadline is its first entry.
    schedule: tuple[ScheduleEntry, ...] = ()
    # The workflow run that last wrote it; set by the workflow (the state machine knows no runs).
    run_id: str | None = None
    # After activation (plans with an after_activation section): the outcome ``activated`` has
    # its time here, and the incident stays open (closed_at null) until it is terminated.
    activated_at: datetime | None = None
    termination_rationale: str | None = None
    # Every sector the response covers (its first report's first) and how many reports it
    # gathered: reports of one offensive join one response.
    sectors: tuple[str, ...] = ()
    reports: int = 1
    # Merges: the incident this one was folded into, and those folded into this one.
    merged_into: str | None = None
    merged_from: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class IncidentView(IncidentSnapshot):
    """The full state of an incident, as the query returns it."""

    time_scale: float
    awaiting: Awaiting
    escalation_authority: str
    verification: Verification
    sources: tuple[str, ...]
    quorum: QuorumView
    commitments: tuple[CommitmentView, ...]
    authorized_by: str | None
    dispatched: tuple[str, ...]
    deadlines: tuple[DeadlineView, ...]
    escalations: tuple[EscalationView, ...]
    unmet_conditions: tuple[str, ...]
    # The latest decisions (at most ``limits.RECENT_DECISIONS``); the whole timeline is the
    # ledger's, paged from the database.
    timeline: tuple[Decision, ...]
    persisted_seq: int
    # Changes of phase, from the report on (the first and the latest ``limits.PHASE_CHANGES``).
    phases: tuple[PhaseChange, ...] = ()
    decisions_total: int = 0
    run: int = 1  # which run of the incident's workflow answers: each continue-as-new adds one
    # Why the database refuses the incident's ledger writes, while it does (LEDGER BLOCKED).
    ledger_problem: str | None = None

    # The hash of the decision at persisted_seq: the head the ledger must hold there (empty when
    # nothing is persisted yet, or the incident predates sealed decisions).
    persisted_head: str = ""
    # Escalation notices nobody has acknowledged yet (repeated until someone does), how many
    # notices went out, and how many recipients could not be reached.
    awaiting_ack: tuple[AwaitedAck, ...] = ()
    notices_sent: int = 0
    undelivered: int = 0
    # After activation: the committed parties' deployments, the next review due, reviews
    # missed in a row, and whether the committed forces still make the quorum.
    deployments: tuple[DeploymentView, ...] = ()
    next_review_at: datetime | None = None
    reviews_missed: int = 0
    force_holds: bool | None = None
    # Notices queued or sent whose result is not yet recorded (counted from the after-activation
    # rule on; 0 before it).
    notices_pending: int = 0
    # A merge of this incident into another, under way (its inputs go to that one meanwhile).
    merging_into: str | None = None


@dataclass(frozen=True)
class CarriedState:
    """Where an incident stands, handed from one run to the next by continue-as-new: every
    fact the plan's rules read, and the latest decisions (the rest are in the ledger)."""

    run: int
    kind: str
    reported_at: datetime
    seq: int
    decisions: tuple[Decision, ...]
    fired: tuple[str, ...]
    results: dict[str, bool]
    sources: tuple[str, ...]
    verification: Verification
    commitments: tuple[CommitmentView, ...]
    quorum_reached: bool
    authorized_by: str | None
    authorized_at: datetime | None
    escalation_level: int
    escalations: tuple[EscalationView, ...]
    dispatch_started: tuple[str, ...]
    dispatched: dict[str, datetime]
    dispatch_queue: tuple[str, ...]
    unmet: tuple[str, ...]
    verified_at: datetime | None
    quorum_since: datetime | None
    phases: tuple[PhaseChange, ...]
    rules: dict[str, bool]  # the rules the incident started under (its patch markers)
    communications: CommunicationsRecord | None = None
    # An active response (after_activation): its outcome, when, and its life since.
    outcome: Outcome | None = None
    activated_at: datetime | None = None
    deployed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    withdrawn: dict[str, tuple[str, ...]] = field(default_factory=dict)
    deployment_at: dict[str, datetime] = field(default_factory=dict)
    review_due_at: datetime | None = None
    reviews_missed: int = 0
    reviews_held: int = 0
    force_holds: bool = True
    # Reports joined to the response: its T0 (the earliest violation observed), its sectors
    # and the report ids it holds (a report joins once).
    t0: datetime | None = None
    sectors: tuple[str, ...] = ()
    report_ids: tuple[str, ...] = ()
    # Merges: incidents folded into this one, a merge of this one under way, the merged reports.
    merged_from: tuple[str, ...] = ()
    handover: MergeHandover | None = None
    other_reports: tuple[MergedReport, ...] = ()
