"""Every kind of decision the ledger records, the payload each kind carries, and how a reader
says what was decided.

The workflow records decisions with these kinds and payloads; the ledger, the metrics, the
console, the reports, the board and the CLI read them back through :func:`detail`, so no view
matches kind strings of its own. A payload is a plain ``dict`` (it is hashed into the ledger's
chain as it is); the ``TypedDict`` of each kind names its keys once.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from workflows.messages import Action, DeploymentStatus, Outcome


class DecisionKind(StrEnum):
    REPORTED = "reported"
    # Another report of the same offensive joined the response (its sector, reporter, evidence).
    REPORT_JOINED = "report_joined"
    EVIDENCE_ACCEPTED = "evidence_accepted"
    COMMITMENT = "commitment"
    VERIFIED = "verified"
    PRESUMED = "presumed"
    LAPSED = "lapsed"
    ESCALATED = "escalated"
    QUORUM_REACHED = "quorum_reached"
    QUORUM_LOST = "quorum_lost"
    # Operator decisions: the kind is the action.
    CONFIRM = Action.CONFIRM.value
    AUTHORIZE = Action.AUTHORIZE.value
    STAND_DOWN = Action.STAND_DOWN.value
    RECLASSIFY = Action.RECLASSIFY.value
    TERMINATE = Action.TERMINATE.value
    REVIEW = Action.REVIEW.value
    MERGE = Action.MERGE.value
    CORRECT_T0 = Action.CORRECT_T0.value
    # Merges: the absorbing incident took an absorbed one's content; the absorbing incident
    # refused a merge (the absorbed one stays open).
    ABSORBED = "absorbed"
    MERGE_REFUSED = "merge_refused"
    # A report dated further back than the plan allows without an operator: T0 held at the bound.
    T0_HELD = "t0_held"
    # What committed parties report after activation.
    DEPLOYED = DeploymentStatus.DEPLOYED.value
    WITHDRAWN = DeploymentStatus.WITHDRAWN.value
    # What happened to a diplomatic step handed to the sink.
    DISPATCHED = "dispatched"
    DISPATCH_FAILED = "dispatch_failed"
    DISPATCH_CANCELLED = "dispatch_cancelled"
    # What the engine told people (workflows/notices.py), and who acknowledged a page.
    NOTIFIED = "notified"
    DELIVERY_FAILED = "delivery_failed"
    ACKNOWLEDGED = "acknowledged"
    # The cell's journal: a note or a handover, read by people; no rule reads it.
    NOTE = "note"
    # The closing decision: the kind is the outcome.
    ACTIVATED = Outcome.ACTIVATED.value
    NOT_ACTIVATED = Outcome.NOT_ACTIVATED.value
    UNVERIFIED_CLOSED = Outcome.UNVERIFIED_CLOSED.value
    DIPLOMATIC_RESPONSE = Outcome.DIPLOMATIC_RESPONSE.value
    STOOD_DOWN = Outcome.STOOD_DOWN.value
    CANCELLED = Outcome.CANCELLED.value
    MERGED = Outcome.MERGED.value
    # The end of an active response (its outcome stays ``activated``): by an operator's
    # terminate or stand_down, at the plan's limit, or cancelled from Temporal.
    TERMINATED = "terminated"

    @classmethod
    def of_action(cls, action: Action) -> DecisionKind:
        return cls(action.value)

    @classmethod
    def of_outcome(cls, outcome: Outcome) -> DecisionKind:
        return cls(outcome.value)

    @property
    def outcome(self) -> Outcome | None:
        """The outcome this decision closes the incident with, if it is a closing decision."""
        return Outcome(self.value) if self.value in OUTCOME_VALUES else None

    @property
    def closes(self) -> bool:
        """Whether this decision closes the incident: an outcome, or an active response ended."""
        return self.outcome is not None or self is DecisionKind.TERMINATED

    @property
    def by_operator(self) -> bool:
        return self.value in ACTION_VALUES

    @property
    def reports_a_step(self) -> bool:
        """The result of a diplomatic step: the only decisions that may follow the outcome."""
        return self in STEP_RESULTS

    @property
    def may_follow_outcome(self) -> bool:
        """Recorded after the closing decision: what the steps and notices it started became."""
        return self in STEP_RESULTS or self in NOTICE_RESULTS


OUTCOME_VALUES = frozenset(o.value for o in Outcome)


def closes_incident(kind: str, payload: Mapping[str, Any]) -> bool:
    """Whether a ledger row is the one that closed its incident: an outcome (but not an
    activation that left the response active), or the termination of an active response."""
    if kind == DecisionKind.TERMINATED:
        return True
    return kind in OUTCOME_VALUES and not payload.get("stays_active", False)


ACTION_VALUES = frozenset(a.value for a in Action)
STEP_RESULTS = frozenset(
    {DecisionKind.DISPATCHED, DecisionKind.DISPATCH_FAILED, DecisionKind.DISPATCH_CANCELLED}
)


NOTICE_RESULTS = frozenset({DecisionKind.NOTIFIED, DecisionKind.DELIVERY_FAILED})


# -- payloads ----------------------------------------------------------------------------------


# Any payload may carry the full text's digest and length, when its rationale (or summary) was
# longer than the workflow carries: the rationale then holds its first characters, the ``texts``
# table the whole, and the chain seals the digest.
TEXT_KEY = "text"


class TextPayload(TypedDict):
    sha256: str
    chars: int


class ReportedPayload(TypedDict):
    report_id: str
    reported_by: str
    kind: str
    sector: str
    observed_at: str
    reported_at: str
    plan_id: str
    plan_version: int
    exercise: bool
    # sha256 of the pinned plan's canonical content (plans.digest); absent in older incidents.
    plan_digest: NotRequired[str]


class ReportJoinedPayload(TypedDict):
    report_id: str
    reported_by: str
    kind: str
    sector: str
    observed_at: str
    sectors: list[str]  # every sector the response covers, after this report
    reports: int  # reports the response holds, this one included
    t0: str  # the response's T0 after this report: the earliest violation observed
    t0_moved_from: NotRequired[str]  # the T0 before, when this report moved it earlier
    # The report dates its violation beyond the plan's bound: T0 moves at most to this.
    t0_held_at: NotRequired[str]


class EvidencePayload(TypedDict):
    source: str
    new_source: bool
    distinct_sources: int


class CommitmentPayload(TypedDict):
    party: str
    answer: str  # commit | decline
    assets: list[str]
    previous: str | None  # the party's answer before this one


class VerifiedPayload(TypedDict):
    sources: list[str]


class LapsedPayload(TypedDict):
    deadline: str
    due_at: str


class EscalatedPayload(TypedDict):
    level: int
    authority: str
    incident_level: int
    rule_at_hours: float
    unless: str
    # After activation: what escalated (review_missed, withdrawal); absent for the plan's rules.
    cause: NotRequired[str]


class QuorumReachedPayload(TypedDict):
    committed: list[str]


class QuorumLostPayload(TypedDict):
    committed: list[str]
    short: int
    missing_assets: list[str]


class ActionPayload(TypedDict):
    action: str


# "from" is a keyword: the reclassification's payload is spelled with the functional syntax.
ReclassifyPayload = TypedDict("ReclassifyPayload", {"action": str, "from": str, "to": str})


class StepPayload(TypedDict):
    step: str


class DispatchedPayload(TypedDict):
    step: str
    channel: str


class OutcomePayload(TypedDict):
    outcome: str


class ActivatedPayload(TypedDict):
    outcome: str
    parties: dict[str, list[str]]  # committed party -> the assets it committed
    assets: list[str]
    # The response stays open in phase active (its plan's after_activation section); absent
    # when activation closed the incident.
    stays_active: NotRequired[bool]


class NotActivatedPayload(TypedDict):
    outcome: str
    unmet: list[str]


class NotifiedPayload(TypedDict):
    notice: str  # the notice id: with the audience and channel, each message's idempotency key
    notice_kind: str
    delivered: list[str]  # audiences reached on at least one channel
    recipients: int  # channel deliveries
    undelivered: list[str]
    unconfigured: list[str]  # audiences the contacts file gives no channel
    acknowledges: NotRequired[str]  # a repeat: the escalation notice awaiting acknowledgement
    repeat: NotRequired[int]


class DeliveryFailedPayload(TypedDict):
    notice: str
    notice_kind: str
    audience: str
    channel: str  # Apprise's privacy form: never a secret


class NotePayload(TypedDict):
    note: str  # note | handover


class DeploymentPayload(TypedDict):
    party: str
    status: str  # deployed | withdrawn
    assets: list[str]
    remaining: list[str]  # the party's committed assets not withdrawn, after this report
    force_holds: bool  # whether the committed forces still make the quorum


class ReviewPayload(TypedDict):
    action: str  # review
    review: int  # how many reviews were due before this one (missed or held)
    next_due_at: str


class TerminatedPayload(TypedDict):
    outcome: str  # stays activated
    by: str  # terminate | stand_down | limit | cancel
    activated_at: str
    active_hours: float  # plan hours from activation to termination


class MergePayload(TypedDict):
    action: str  # merge
    into: str


class MergedPayload(TypedDict):
    outcome: str  # merged
    into: str
    into_seq: int  # the absorbing incident's ``absorbed`` decision


class MergeRefusedPayload(TypedDict):
    into: str
    reason: str  # invalid | conflict | unreachable


class AbsorbedPayload(TypedDict):
    incident: str  # the absorbed incident
    reports: list[str]
    sectors: list[str]  # every sector the response covers, after the merge
    t0: str  # the response's T0 after the merge
    sources_added: list[str]
    commitments_taken: list[str]  # parties whose answer the absorbed incident's replaced
    steps_sent: list[str]  # steps the absorbed incident had started: not sent again
    t0_moved_from: NotRequired[str]


class CorrectT0Payload(TypedDict):
    action: str  # correct_t0
    t0_from: str
    t0: str


class T0HeldPayload(TypedDict):
    observed_at: str  # what the report claims
    t0: str  # where T0 is held until an operator confirms (correct_t0)
    bound_hours: float  # how far back a report may date its violation on its own


class AcknowledgedPayload(TypedDict):
    notice: str
    level: int
    via: str  # link | api


# -- what a reader shows -----------------------------------------------------------------------


def _names(items: Any) -> str:
    return ", ".join(str(i) for i in items or ()) or "none"


def detail(kind: str, payload: Mapping[str, Any]) -> str:
    """What a decision decided, from its payload, where its rationale does not already say it
    (the rationale says why; empty when it says it all).

    Unknown kinds (a ledger written by a newer engine) show their payload as it is.
    """
    p = payload
    try:
        known = DecisionKind(kind)
    except ValueError:
        return ", ".join(f"{k}={v}" for k, v in sorted(p.items()))
    match known:
        case DecisionKind.REPORT_JOINED:
            text = (
                f"{p.get('kind')} in {p.get('sector')}, reported by {p.get('reported_by')}: "
                f"report {p.get('reports')} of the response ({_names(p.get('sectors'))})"
            )
            return text + _t0_moved(p)
        case DecisionKind.REPORTED:
            return (
                f"{p.get('kind')} in {p.get('sector')}, reported by {p.get('reported_by')} "
                f"(plan {p.get('plan_id')} v{p.get('plan_version')}"
                + (", exercise)" if p.get("exercise") else ")")
            )
        case DecisionKind.EVIDENCE_ACCEPTED:
            new = "new source" if p.get("new_source") else "source already counted"
            return f"from {p.get('source')} ({new}; {p.get('distinct_sources')} distinct)"
        case DecisionKind.COMMITMENT:
            return _commitment(p)
        case DecisionKind.ESCALATED:
            return (
                f"to level {p.get('level')} ({p.get('authority')}); "
                f"the incident is at level {p.get('incident_level')}"
            )
        case DecisionKind.QUORUM_LOST:
            missing = p.get("missing_assets") or []
            return f"committed: {_names(p.get('committed'))}; {p.get('short')} more needed" + (
                f", nobody offers {_names(missing)}" if missing else ""
            )
        case DecisionKind.RECLASSIFY:
            return f"{p.get('from')} → {p.get('to')}"
        case DecisionKind.DISPATCHED:
            return f"{p.get('step')} sent via {p.get('channel')}"
        case DecisionKind.DISPATCH_FAILED | DecisionKind.DISPATCH_CANCELLED:
            return str(p.get("step"))
        case DecisionKind.ACTIVATED:
            parties = p.get("parties") or {}
            return "; ".join(f"{party}: {_names(assets)}" for party, assets in parties.items())
        case DecisionKind.NOT_ACTIVATED:
            return f"unmet: {_names(p.get('unmet'))}"
        case DecisionKind.NOTIFIED:
            text = f"{p.get('notice_kind')} to {_names(p.get('delivered'))}"
            if p.get("undelivered"):
                text += f"; undelivered: {_names(p.get('undelivered'))}"
            if p.get("unconfigured"):
                text += f"; no channel for {_names(p.get('unconfigured'))}"
            return text
        case DecisionKind.DELIVERY_FAILED:
            return f"{p.get('notice_kind')} to {p.get('audience')} via {p.get('channel')}"
        case DecisionKind.DEPLOYED | DecisionKind.WITHDRAWN:
            text = f"{p.get('party')} {p.get('status')} {_names(p.get('assets'))}"
            if known is DecisionKind.WITHDRAWN:
                text += f"; still committed: {_names(p.get('remaining'))}"
                text += "" if p.get("force_holds") else "; the quorum no longer holds"
            return text
        case DecisionKind.REVIEW:
            return f"next review due {p.get('next_due_at')}"
        case DecisionKind.TERMINATED:
            return f"by {p.get('by')} after {p.get('active_hours')} h active (outcome {p.get('outcome')})"
        case DecisionKind.MERGE:
            return f"into {p.get('into')}"
        case DecisionKind.MERGED:
            return f"into {p.get('into')} (its decision {p.get('into_seq')})"
        case DecisionKind.MERGE_REFUSED:
            return f"into {p.get('into')} ({p.get('reason')})"
        case DecisionKind.ABSORBED:
            text = (
                f"incident {p.get('incident')}: reports {_names(p.get('reports'))}; the response "
                f"covers {_names(p.get('sectors'))}"
            )
            text += _t0_moved(p)
            if p.get("steps_sent"):
                text += f"; already sent there: {_names(p.get('steps_sent'))}"
            return text
        case DecisionKind.CORRECT_T0:
            return f"T0 {p.get('t0_from')} → {p.get('t0')}"
        case DecisionKind.T0_HELD:
            return (
                f"observed {p.get('observed_at')}, more than {p.get('bound_hours')} h before the "
                f"report: T0 held at {p.get('t0')} until an operator confirms (correct_t0)"
            )
        case DecisionKind.ACKNOWLEDGED:
            return f"level {p.get('level')} notice {p.get('notice')} (via {p.get('via')})"
        case DecisionKind.NOTE:
            return "shift handover" if p.get("note") == "handover" else ""
        case _:
            return ""


def _t0_moved(p: Mapping[str, Any]) -> str:
    """What a report or a merge did to the response's T0, if it moved it."""
    if not p.get("t0_moved_from"):
        return ""
    return f"; T0 moved from {p.get('t0_moved_from')} to {p.get('t0')}"


def _commitment(p: Mapping[str, Any]) -> str:
    party, answer, previous = p.get("party"), p.get("answer"), p.get("previous")
    if answer == "commit":
        text = f"{party} commits {_names(p.get('assets'))}"
        return text + (" (changed from decline)" if previous == "decline" else "")
    if previous == "commit":
        return f"{party} withdraws its commitment (declines)"
    return f"{party} declines"
