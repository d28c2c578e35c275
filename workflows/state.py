"""The plan's logic as a pure state machine: no Temporal, no I/O, no clock of its own.

The workflow feeds it the time (``workflow.now()``) and the inputs it receives, and carries out
the effects it asks for (ledger writes, diplomatic dispatches). Keeping the rules here means they
are tested exhaustively without a server, and the workflow stays a thin, readable shell.

Time, as the plan's table says (``plans.model.Deadline``):

- an input that reaches the engine at a deadline's due instant counts as on time (inclusive);
- a deadline's verdict, met or missed, is judged at its due instant, so a deadline already past
  when the engine learns of something (a late report) is missed and its escalation rules fire;
- a missed deadline's consequence (close unverified, proceed on presumption) applies only if its
  condition still fails when the engine processes it, knowing the input that arrives with it: a
  late report that carries its corroborating sources is verified late, not closed or presumed;
- after the closing decision nothing new is decided or started; only the results of diplomatic
  steps started before it may follow.

Drive it with :meth:`IncidentState.receive` for an input (the validator's view first:
:meth:`IncidentState.preview`) and :meth:`IncidentState.advance` when time passes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from foundation.ids import workflow_id_for
from foundation.memo import last_by_identity
from plans.digest import plan_digest
from plans.model import (
    AfterActivation,
    Condition,
    Deadline,
    EscalationRule,
    KindPolicy,
    Plan,
    WhenUnverified,
)
from workflows import limits, merging
from workflows.chain import decision_hash, genesis_hash
from workflows.checks import Rejected, check_carried, check_text
from workflows.clock import PlanClock, format_offset
from workflows.communications import Communications
from workflows.decisions import (
    TEXT_KEY,
    AcknowledgedPayload,
    ActivatedPayload,
    CommitmentPayload,
    DecisionKind,
    DeliveryFailedPayload,
    DeploymentPayload,
    EscalatedPayload,
    EvidencePayload,
    LapsedPayload,
    NotActivatedPayload,
    NotePayload,
    NotifiedPayload,
    QuorumLostPayload,
    QuorumReachedPayload,
    ReportedPayload,
    ReportJoinedPayload,
    ReviewPayload,
    TerminatedPayload,
    TextPayload,
    VerifiedPayload,
)
from workflows.messages import (
    AcknowledgeInput,
    Action,
    Answer,
    Awaiting,
    CarriedState,
    CommitmentInput,
    CommitmentView,
    DeadlineStatus,
    DeadlineView,
    Decision,
    DecisionInput,
    DeploymentInput,
    DeploymentStatus,
    DeploymentView,
    EscalationView,
    EvidenceInput,
    IncidentInput,
    IncidentSnapshot,
    IncidentView,
    MergedReport,
    MergeHandover,
    MergeResult,
    NoteInput,
    NoteKind,
    Outcome,
    Phase,
    PhaseChange,
    QuorumView,
    ScheduleEntry,
    ScheduleKind,
    TextRef,
    Verification,
    ViolationReport,
)
from workflows.notices import NoticeInput, NoticeKind, NoticeResult
from workflows.text import (
    ACTOR,
    NOTE,
    PARTY,
    RATIONALE,
    REPORT_ID,
    REPORTED_BY,
    SECTOR,
    SOURCE,
    SUMMARY,
)

SYSTEM = "system"


@dataclass(frozen=True)
class Rules:
    """Behaviour that changed while incidents were in flight. The workflow sets each flag from a
    ``workflow.patched()`` marker, so a replayed incident keeps the rules it started under; every
    other user of the state machine runs the current rules (the defaults)."""

    # Independent evidence after the plan proceeded on presumption verifies the violation.
    evidence_verifies_presumption: bool = True
    # Verdicts at the due instant, inputs at a due instant on time, consequences knowing the
    # input that arrives with them, and the unmet conditions named as the plan's steps.
    judged_at_due: bool = True
    # Bounded incidents: long text by reference, a cap on distinct sources (workflows/limits.py).
    bounded: bool = True
    # What people submit follows the text rules (workflows/text.py), checked by the validators.
    text_rules: bool = True
    # Each decision sealed as it is recorded (chain v2, with its run and the plan's digest), and
    # a cancel from Temporal recorded as the outcome ``cancelled``.
    sealed_ledger: bool = True
    # The incident tells people (workflows/communications.py): consultation requests and
    # reminders, escalation notices awaiting acknowledgement, activation orders, close notices.
    notices: bool = True
    # Under a plan with an after_activation section, activation leaves the response open in
    # phase ``active``: deployments and withdrawals, periodic reviews, termination or the limit.
    after_activation: bool = True
    # Reports of one offensive join one response (join_report): its sectors, and its T0 moved to
    # the earliest violation observed; the IncidentSectors search attribute.
    joining: bool = True
    # An operator folds one open incident into another (merge) or corrects T0 (correct_t0); a
    # report dated beyond the plan's bound has its T0 held there (workflows/merging.py).
    merging: bool = True


CURRENT_RULES = Rules()
LEGACY_RULES = Rules(
    evidence_verifies_presumption=False,
    judged_at_due=False,
    bounded=False,
    text_rules=False,
    sealed_ledger=False,
    notices=False,
    after_activation=False,
    joining=False,
    merging=False,
)
# Who the ledger names for a cancel that came from Temporal; the audit adds the identity the
# cancel request carries in the history (the workflow cannot see it).
TEMPORAL_CANCEL = "temporal-cancel"

# Before ``judged_at_due``, the unmet consultation was called by its condition.
_LEGACY_UNMET = {"consultation": "quorum"}


class Unknown:
    """Not worked out yet (as opposed to None, worked out and absent)."""


UNKNOWN = Unknown()

# A change the state makes at a given time: an input being applied.
Change = Callable[["IncidentState", datetime], None]


@dataclass(frozen=True)
class _Event:
    """Something that happens at a fixed offset from T0 unless the incident has closed."""

    key: str
    hours: float
    order: int  # deadlines before escalations before the window closing, at the same instant
    deadline: Deadline | None = None
    rule: EscalationRule | None = None


@dataclass
class _Commitment:
    answer: Answer
    assets: tuple[str, ...]
    at: datetime
    actor: str


def quorum_missing(plan: Plan, commitments: dict[str, _Commitment]) -> tuple[int, tuple[str, ...]]:
    """How many more committed parties are needed, and which required assets nobody offers."""
    committed = [c for c in commitments.values() if c.answer is Answer.COMMIT]
    offered = {asset for c in committed for asset in c.assets}
    short = max(0, plan.quorum.min_committed - len(committed))
    return short, tuple(a for a in plan.quorum.required_assets if a not in offered)


def quorum_holds(plan: Plan, commitments: dict[str, _Commitment]) -> bool:
    committed = [c for c in commitments.values() if c.answer is Answer.COMMIT]
    if len(committed) < plan.quorum.min_committed:
        return False  # the usual answer while the consultation runs, and the cheapest
    offered = {asset for c in committed for asset in c.assets}
    return all(a in offered for a in plan.quorum.required_assets)


@last_by_identity
def _events(plan: Plan) -> tuple[_Event, ...]:
    """The plan's timed events in order (a sweep opens thousands of incidents under one plan)."""
    events = [
        _Event(key=f"deadline:{d.name}", hours=d.due_hours, order=0, deadline=d)
        for d in plan.deadlines
    ]
    events += [
        _Event(key=f"rule:{i}", hours=r.at_hours, order=1, rule=r)
        for i, r in enumerate(plan.escalations)
    ]
    events.append(_Event(key="window", hours=plan.activation_window_hours, order=2))
    return tuple(sorted(events, key=lambda e: (e.hours, e.order)))


def rule_name(rule: EscalationRule) -> str:
    return f"unless_{rule.unless}_t{rule.at_hours:g}h_l{rule.level}"


def check_report(incident: IncidentInput, rules: Rules = CURRENT_RULES) -> None:
    """What a report must satisfy before an incident can open under its plan (the start of a
    workflow has no validator: the intake calls this first)."""
    report = incident.report
    if rules.text_rules:
        for value, spec in (
            (report.report_id, REPORT_ID),
            (report.sector, SECTOR),
            (report.reported_by, REPORTED_BY),
            (report.summary, SUMMARY),
            (report.submitted_by, ACTOR),
        ):
            check_text(value, spec)
        for i, item in enumerate(report.evidence):
            check_text(item.source, SOURCE, f"evidence[{i}].source")
            check_text(item.summary, SUMMARY, f"evidence[{i}].summary")
    if rules.bounded:
        check_carried("summary", report.summary, report.summary_ref)
        if len(report.evidence) > limits.MAX_SOURCES:
            raise Rejected(
                f"evidence: at most {limits.MAX_SOURCES} items in one report", field="evidence"
            )
        for i, item in enumerate(report.evidence):
            check_carried(f"evidence[{i}].summary", item.summary, item.summary_ref)
    plan, kind = incident.plan, report.kind
    if not plan.has_kind(kind):
        raise Rejected(
            f"kind: {kind!r} is not a kind of plan {plan.id} ({', '.join(plan.kind_names)})",
            field="kind",
        )


class IncidentState:
    """One incident under one plan. Every method takes the current time; none reads a clock."""

    def __init__(
        self,
        incident: IncidentInput,
        now: datetime,
        rules: Rules = CURRENT_RULES,
        run_id: str = "",
        *,
        verdict_only: bool = False,
    ) -> None:
        check_report(incident, rules)
        report = incident.report
        self.input = incident
        # A run that needs only the verdict (a sweep's fast path, whose notices go nowhere):
        # notices are addressed and awaited as ever, but not composed nor queued, as their
        # content never changes a verdict, and an unacknowledged page is not repeated (nor
        # counted). The workflow's state always composes, queues and repeats them.
        self.verdict_only = verdict_only
        # The workflow run deciding from now on (sealed into each decision); set again by a run
        # that carries this state on.
        self.run_id = run_id
        self.workflow_id = workflow_id_for(incident.incident_id)
        self.plan = incident.plan
        self.rules = rules
        self.kind = report.kind
        self.reported_at = report.reported_at or now
        observed = report.observed_at or self.reported_at
        held = merging.held_t0(self, observed, self.reported_at)
        self.clock = PlanClock(t0=held or observed, time_scale=incident.time_scale)
        self.events = _events(self.plan)
        self.fired: set[str] = set()
        self.results: dict[str, bool] = {}
        # The decisions still held: all of them for the pure state machine; the workflow keeps
        # only a recent window (``forget_through``) once the ledger holds the rest.
        self.decisions: list[Decision] = []
        self.seq = 0  # decisions taken so far, held or not
        self.sources: list[str] = []
        self.verification = Verification.PENDING
        self.commitments: dict[str, _Commitment] = {}
        self._quorum: bool | None = None  # quorum_holds() of the commitments, until they change
        self._policy: tuple[str, KindPolicy] | None = None  # the kind's policy, until it changes
        self.quorum_reached = False
        self.authorized_by: str | None = None
        self.authorized_at: datetime | None = None
        self.escalation_level = 1
        self.escalations: list[EscalationView] = []
        self.dispatch_started: list[str] = []
        self.dispatched: dict[str, datetime] = {}
        # Steps the workflow has yet to start; it drains this list after every change.
        self.dispatch_queue: list[str] = []
        self.outcome: Outcome | None = None
        self.closed_at: datetime | None = None
        self.unmet: tuple[str, ...] = ()
        # When each condition last came to hold (verified, quorum), for the views.
        self.verified_at: datetime | None = None
        self.quorum_since: datetime | None = None
        self.phases: list[PhaseChange] = []
        # After activation (the plan's after_activation section, under the rule).
        self.activated_at: datetime | None = None
        self.termination_rationale: str | None = None
        self.deployed: dict[str, tuple[str, ...]] = {}
        self.withdrawn: dict[str, tuple[str, ...]] = {}
        self.deployment_at: dict[str, datetime] = {}
        self.review_due_at: datetime | None = None
        self.reviews_missed = 0  # in a row
        self.reviews_held = 0
        self.force_holds = True
        self.sectors: list[str] = [report.sector]
        self.report_ids: list[str] = [report.report_id]
        self.other_reports: list[MergedReport] = []  # joined or merged, after the first
        self.merged_from: list[str] = []
        self.merged_into: str | None = None
        self.handover: MergeHandover | None = None  # a merge of this incident under way
        self.comms = Communications.opening(self, now)

        submitter = report.submitted_by or report.reported_by
        reported = ReportedPayload(
            report_id=report.report_id,
            reported_by=report.reported_by,
            kind=report.kind,
            sector=report.sector,
            observed_at=self.clock.t0.isoformat(),
            reported_at=self.reported_at.isoformat(),
            plan_id=self.plan.id,
            plan_version=self.plan.version,
            exercise=incident.exercise,
        )
        if rules.sealed_ledger:
            reported["plan_digest"] = plan_digest(self.plan)
        self._record(
            DecisionKind.REPORTED, now, submitter, report.summary, reported, text=report.summary_ref
        )
        if held is not None:
            merging.record_held(self, observed, held, now)
        self._add_source(report.reported_by)
        evidence = [
            EvidenceInput(e.source, e.summary, submitter, e.summary_ref) for e in report.evidence
        ]

        def with_the_report(state: IncidentState, at: datetime) -> None:
            # A report whose window has already closed opens a closed incident: its evidence
            # decides nothing.
            if state.is_open:
                for item in evidence:
                    state.add_evidence(item, at)

        if rules.judged_at_due:
            self.receive(now, with_the_report)
        else:
            # The first rules: the report's evidence first, the past deadlines after it (the
            # workflow's first wake-up fires them).
            with_the_report(self, now)

    # -- from one run to the next -----------------------------------------------------------

    def carry(self, run: int) -> CarriedState:
        """Where the incident stands, for the next run (continue-as-new): an open incident only
        (deciding, or an active response)."""
        return CarriedState(
            run=run,
            kind=self.kind,
            reported_at=self.reported_at,
            seq=self.seq,
            decisions=tuple(self.decisions[-limits.RECENT_DECISIONS :]),
            fired=tuple(sorted(self.fired)),
            results=dict(self.results),
            sources=tuple(self.sources),
            verification=self.verification,
            commitments=tuple(self.commitment_views()),
            quorum_reached=self.quorum_reached,
            authorized_by=self.authorized_by,
            authorized_at=self.authorized_at,
            escalation_level=self.escalation_level,
            escalations=tuple(self.escalations),
            dispatch_started=tuple(self.dispatch_started),
            dispatched=dict(self.dispatched),
            dispatch_queue=tuple(self.dispatch_queue),
            unmet=self.unmet,
            verified_at=self.verified_at,
            quorum_since=self.quorum_since,
            phases=tuple(self.phases),
            rules={f: getattr(self.rules, f) for f in Rules.__dataclass_fields__},
            communications=self.comms.record(),
            outcome=self.outcome,
            activated_at=self.activated_at,
            deployed=dict(self.deployed),
            withdrawn=dict(self.withdrawn),
            deployment_at=dict(self.deployment_at),
            review_due_at=self.review_due_at,
            reviews_missed=self.reviews_missed,
            reviews_held=self.reviews_held,
            force_holds=self.force_holds,
            t0=self.clock.t0,
            sectors=tuple(self.sectors),
            report_ids=tuple(self.report_ids),
            merged_from=tuple(self.merged_from),
            handover=self.handover,
            other_reports=tuple(self.other_reports),
        )

    @classmethod
    def resume(
        cls, incident: IncidentInput, carried: CarriedState, run_id: str = ""
    ) -> IncidentState:
        """The incident as the last run left it; nothing is recorded (that run did). Decisions
        of this run are sealed with ``run_id``; the chain goes on from the carried ones."""
        state = cls.__new__(cls)
        report = incident.report
        state.input = incident
        state.run_id = run_id
        state.workflow_id = workflow_id_for(incident.incident_id)
        state.plan = incident.plan
        # A rule the carried state does not name came after the incident started: it does not
        # apply (a continued run must decide as its first run did).
        state.rules = Rules(**{k: carried.rules.get(k, False) for k in Rules.__dataclass_fields__})
        state.kind = carried.kind
        state.reported_at = carried.reported_at
        state.clock = PlanClock(
            t0=carried.t0 or report.observed_at or carried.reported_at,
            time_scale=incident.time_scale,
        )
        state.events = _events(state.plan)
        state.fired = set(carried.fired)
        state.results = dict(carried.results)
        state.decisions = list(carried.decisions)
        state.seq = carried.seq
        state.sources = list(carried.sources)
        state.verification = carried.verification
        state.commitments = {
            c.party: _Commitment(answer=c.answer, assets=tuple(c.assets), at=c.at, actor=c.actor)
            for c in carried.commitments
        }
        state._quorum = None
        state._policy = None
        state.quorum_reached = carried.quorum_reached
        state.authorized_by = carried.authorized_by
        state.authorized_at = carried.authorized_at
        state.escalation_level = carried.escalation_level
        state.escalations = list(carried.escalations)
        state.dispatch_started = list(carried.dispatch_started)
        state.dispatched = dict(carried.dispatched)
        state.dispatch_queue = list(carried.dispatch_queue)
        state.outcome = carried.outcome  # None, or activated for an active response
        state.closed_at = None
        state.activated_at = carried.activated_at
        state.termination_rationale = None
        state.deployed = {p: tuple(a) for p, a in carried.deployed.items()}
        state.withdrawn = {p: tuple(a) for p, a in carried.withdrawn.items()}
        state.deployment_at = dict(carried.deployment_at)
        state.review_due_at = carried.review_due_at
        state.reviews_missed = carried.reviews_missed
        state.reviews_held = carried.reviews_held
        state.force_holds = carried.force_holds
        state.sectors = list(carried.sectors) or [report.sector]
        state.report_ids = list(carried.report_ids) or [report.report_id]
        state.other_reports = list(carried.other_reports)
        state.merged_from = list(carried.merged_from)
        state.merged_into = None
        state.handover = carried.handover
        state.unmet = tuple(carried.unmet)
        state.verified_at = carried.verified_at
        state.quorum_since = carried.quorum_since
        state.phases = list(carried.phases)
        state.verdict_only = False
        state.comms = (
            Communications()
            if carried.communications is None
            else Communications.resumed(carried.communications)
        )
        return state

    def forget_through(self, seq: int) -> None:
        """Let go of decisions the ledger holds, up to ``seq``, keeping the latest few."""
        keep_from = min(seq + 1, self.seq - limits.RECENT_DECISIONS + 1)
        if self.decisions and self.decisions[0].seq < keep_from:
            self.decisions = [d for d in self.decisions if d.seq >= keep_from]

    def unrecorded(self, after_seq: int, most: int) -> tuple[Decision, ...]:
        """Up to ``most`` decisions after ``after_seq``, in order (the ledger's next batch)."""
        start = next((i for i, d in enumerate(self.decisions) if d.seq > after_seq), None)
        return () if start is None else tuple(self.decisions[start : start + most])

    # -- what the plan says now -------------------------------------------------------------

    @property
    def policy(self) -> KindPolicy:
        # Asked at every step of every check; the kind changes only on a reclassification.
        cached = self._policy
        if cached is None or cached[0] != self.kind:
            cached = self._policy = (self.kind, self.plan.kind(self.kind))
        return cached[1]

    @property
    def is_open(self) -> bool:
        """Open: still deciding (no outcome yet), or an active response not yet terminated."""
        return self.closed_at is None

    @property
    def deciding(self) -> bool:
        """The plan's steps still run: no outcome yet (an active response has one)."""
        return self.outcome is None

    @property
    def after(self) -> AfterActivation | None:
        """The plan's life after activation, if the plan has one and the incident's rules apply it."""
        return self.plan.after_activation if self.rules.after_activation else None

    @property
    def active(self) -> bool:
        """Activated and still open (phase ``active``)."""
        return self.outcome is Outcome.ACTIVATED and self.closed_at is None

    @property
    def quorum(self) -> bool:
        # Asked at every step while activation waits; only a new answer changes it.
        if self._quorum is None:
            self._quorum = quorum_holds(self.plan, self.commitments)
        return self._quorum

    @property
    def steps_for_kind(self) -> tuple[str, ...]:
        return self.policy.diplomatic_steps

    def _condition_applies(self, condition: Condition) -> bool:
        if condition is Condition.QUORUM:
            return self.policy.consultation
        if condition in (Condition.AUTHORIZED, Condition.ACTIVATED):
            return self.policy.military_response
        if condition is Condition.DISPATCHED:
            return bool(self.steps_for_kind)
        return True

    def _condition_holds(self, condition: Condition) -> bool:
        if condition is Condition.VERIFIED:
            return self.verification is Verification.VERIFIED
        if condition is Condition.QUORUM:
            return self.quorum
        if condition is Condition.DISPATCHED:
            return all(step in self.dispatched for step in self.steps_for_kind)
        if condition is Condition.AUTHORIZED:
            return self.authorized_at is not None
        return self.outcome is Outcome.ACTIVATED

    def _applies(self, event: _Event) -> bool:
        if event.deadline is not None:
            return self._condition_applies(event.deadline.condition)
        if event.rule is not None:
            kinds = event.rule.kinds
            return (not kinds or self.kind in kinds) and self._condition_applies(event.rule.unless)
        return True

    def _prerequisite_holds(self, deadline: Deadline) -> bool:
        """Whether a step activation needs is done (verification: verified or presumed)."""
        if deadline.condition is Condition.VERIFIED:
            return self.verification in (Verification.VERIFIED, Verification.PRESUMED)
        return self._condition_holds(deadline.condition)

    def phase(self) -> Phase:
        if self.active:
            return Phase.ACTIVE
        if self.outcome is not None:
            return Phase.CLOSED
        if self.verification is Verification.PENDING:
            return Phase.VERIFICATION
        if self.policy.consultation and not self.quorum:
            return Phase.CONSULTATION
        if self.policy.military_response and self.authorized_at is None:
            return Phase.AUTHORIZATION
        return Phase.MONITORING

    def awaiting(self) -> Awaiting:
        return {
            Phase.VERIFICATION: Awaiting.EVIDENCE,
            Phase.CONSULTATION: Awaiting.ALLIES,
            Phase.AUTHORIZATION: Awaiting.OPERATOR,
            Phase.MONITORING: Awaiting.CLOCK,
            # A missed review waits on the cell; otherwise the response runs on its own.
            Phase.ACTIVE: Awaiting.OPERATOR if self.reviews_missed else Awaiting.CLOCK,
            Phase.CLOSED: Awaiting.NONE,
        }[self.phase()]

    def unmet_conditions(self) -> tuple[str, ...]:
        """The steps activation still needs, by their names in the plan's table."""
        unmet = [
            d.name
            for d in self.plan.required_for_activation
            if self._condition_applies(d.condition) and not self._prerequisite_holds(d)
        ]
        if not self.rules.judged_at_due:
            unmet = [_LEGACY_UNMET.get(name, name) for name in unmet]
        return tuple(unmet)

    def _activation_waits(self) -> bool:
        """Whether a step activation needs is not done: :meth:`unmet_conditions`, stopping at
        the first (every input and every wake-up asks)."""
        for d in self.plan.required_for_activation:
            if self._condition_applies(d.condition) and not self._prerequisite_holds(d):
                return True
        return False

    def _pending(self, event: _Event) -> bool:
        return event.key not in self.fired and self._applies(event)

    def _first_pending(
        self, now: datetime | None = None, *, inclusive: bool = True
    ) -> _Event | None:
        """The earliest pending event (due by ``now``, if given). The events are sorted by their
        offset and the clock is monotonic, so the scan stops at the first one due later: this is
        most of what a run costs the sweep's fast path."""
        for event in self.events:
            if event.key in self.fired:
                continue
            if now is not None:
                at = self.clock.at(event.hours)
                if at > now or (at == now and not inclusive):
                    return None
            if self._applies(event):
                return event
        return None

    def next_event_at(self) -> datetime | None:
        """When the workflow must next wake up by itself, if the incident is still open."""
        if not self.is_open:
            return None
        if self.active:
            plan = min(self._after_moments(), default=None)
        else:
            first = self._first_pending()
            plan = None if first is None else self.clock.at(first.hours)
        said = self.comms.next_at(self) if self.rules.notices else None
        return min((m for m in (plan, said) if m is not None), default=None)

    def next_event_label(self) -> str:
        at = self.next_event_at()
        if self.active:
            labels = [e.title for e in self._after_schedule() if e.due_at == at]
        else:
            labels = [
                self._title(e)
                for e in self.events
                if self._pending(e) and self.clock.at(e.hours) == at
            ]
        if self.rules.notices and at is not None:
            labels += self.comms.next_label(self, at)
        return "; ".join(labels)

    def _title(self, event: _Event) -> str:
        offset = format_offset(event.hours)
        if event.deadline is not None:
            return f"{event.deadline.title} deadline {offset}"
        if event.rule is not None:
            return f"Escalation check ({event.rule.unless}) {offset}"
        return f"Response window closes {offset}"

    def schedule(self) -> tuple[ScheduleEntry, ...]:
        """What falls due next, in order: pending deadlines, escalation checks whose condition does
        not hold, and the close of the window. The next deadline is its first entry."""
        return tuple(self._schedule())

    def next_due(self) -> ScheduleEntry | None:
        """The schedule's first entry, without working out the rest (every escalation notice
        names it)."""
        return next(self._schedule(), None)

    def _schedule(self) -> Iterator[ScheduleEntry]:
        if not self.is_open:
            return
        if self.active:
            yield from self._after_schedule()
            return
        for event in self.events:
            if not self._pending(event):
                continue
            at, hours = self.clock.at(event.hours), event.hours
            offset = format_offset(hours)
            if event.deadline is not None:
                deadline = event.deadline
                # The activation deadline is the window's close, listed once as such.
                if deadline.condition is Condition.ACTIVATED or self._condition_holds(
                    deadline.condition
                ):
                    continue
                yield ScheduleEntry(deadline.name, f"{deadline.title} deadline {offset}", at, hours)
            elif event.rule is not None:
                rule = event.rule
                if self._condition_holds(rule.unless):
                    continue
                title = (
                    f"Escalation to level {rule.level} ({self.plan.authority(rule.level)}) "
                    f"unless {rule.unless} {offset}"
                )
                yield ScheduleEntry(rule_name(rule), title, at, hours, ScheduleKind.ESCALATION)
            else:
                what = "Activation" if self.policy.military_response else "Response"
                yield ScheduleEntry(
                    "window", f"{what} window closes {offset}", at, hours, ScheduleKind.WINDOW
                )

    # -- the passage of time ----------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Fire, in order, everything due at or before ``now``; activate the moment all
        conditions hold. For a wake-up with no input: the timer's, or the validators' view."""
        self._fire(now, inclusive=True, incoming=None)
        if self.rules.notices:
            self.comms.catch_up(self, now)

    def receive(self, now: datetime, change: Change) -> list[Decision]:
        """Apply an input that reaches the engine at ``now``; the decisions it led to.

        What fell due before ``now`` is judged first, as of its due instant, and its consequence
        knowing the input; the input then counts as on time for what falls due at ``now`` itself.
        Raises :class:`Rejected` if the input is refused once those have fired.
        """
        if self.rules.judged_at_due:
            self._fire(now, inclusive=False, incoming=change)
        else:
            self.advance(now)
        first = self.seq
        change(self, now)
        self.advance(now)
        return self.decisions[len(self.decisions) - (self.seq - first) :]

    def preview(
        self,
        now: datetime,
        incoming: Change | None = None,
        *,
        due: datetime | Unknown | None = UNKNOWN,
    ) -> IncidentState:
        """The state as an input arriving at ``now`` will find it, for validators: itself when
        nothing falls due first (checks never change it), else an advanced copy. ``due``:
        :meth:`next_event_at`, if the caller knows it already."""
        if isinstance(due, Unknown):
            due = self.next_event_at()
        inclusive = not self.rules.judged_at_due
        if due is None or due > now or (due == now and not inclusive):
            return self
        probe = copy.deepcopy(self)
        probe._fire(now, inclusive=inclusive, incoming=incoming)
        return probe

    def _fire(self, now: datetime, *, inclusive: bool, incoming: Change | None) -> None:
        late: list[str] = []  # steps queued by what fell due before now
        while self.deciding:
            self._check_activation(now)
            if not self.deciding:
                break
            due = self._first_pending(now, inclusive=inclusive)
            if due is None:
                break
            self.fired.add(due.key)
            queued = len(self.dispatch_queue)
            if due.deadline is not None:
                self._deadline_falls_due(due.deadline, now, incoming)
            elif due.rule is not None:
                self._rule_falls_due(due.rule, now)
            else:
                self._window_closes(now)
            if self.clock.at(due.hours) < now:
                late += self.dispatch_queue[queued:]
        if late and self.outcome not in (None, Outcome.ACTIVATED) and self.rules.judged_at_due:
            # Decided while the engine caught up on a past it learned of late (a late report, a
            # worker back after an outage), and closed without activation before it caught up:
            # the window had closed, so the steps never start.
            for step in late:
                self.dispatch_queue.remove(step)
                self.dispatch_started.remove(step)
        if self.active:
            # The plan's deadlines are moot once active; the reviews and the limit run instead.
            self._fire_after(now, inclusive=inclusive)

    def _would_hold(self, condition: Condition, incoming: Change | None, now: datetime) -> bool:
        """Whether the input arriving at ``now`` would make ``condition`` hold."""
        if incoming is None:
            return False
        probe = copy.deepcopy(self)
        try:
            incoming(probe, now)
        except Rejected:
            return False
        return probe._condition_holds(condition)

    def _deadline_falls_due(
        self, deadline: Deadline, now: datetime, incoming: Change | None
    ) -> None:
        met = self._condition_holds(deadline.condition)
        self.results[deadline.name] = met
        if met:
            return
        self._record(
            DecisionKind.LAPSED,
            now,
            SYSTEM,
            f"{deadline.title} deadline {format_offset(deadline.due_hours)} passed unmet",
            LapsedPayload(
                deadline=deadline.name, due_at=self.clock.at(deadline.due_hours).isoformat()
            ),
        )
        if deadline.condition is not Condition.VERIFIED:
            return
        if self.rules.judged_at_due and self._would_hold(Condition.VERIFIED, incoming, now):
            return  # the input arriving now verifies it: verified late, not closed or presumed
        if self.policy.when_unverified is WhenUnverified.PRESUME:
            self.verification = Verification.PRESUMED
            self._record(
                DecisionKind.PRESUMED,
                now,
                SYSTEM,
                "Not verified in time; the plan proceeds on presumption",
            )
            self._start_dispatch()
        else:
            self.verification = Verification.LAPSED
            self._close(
                Outcome.UNVERIFIED_CLOSED, now, "Not verified in time; the incident is closed"
            )

    def _rule_falls_due(self, rule: EscalationRule, now: datetime) -> None:
        if self._condition_holds(rule.unless):
            return
        self.escalation_level = max(self.escalation_level, rule.level)
        view = EscalationView(
            level=rule.level,
            authority=self.plan.authority(rule.level),
            at=now,
            t_plus_hours=self.clock.hours_since_t0(now),
            reason=rule.reason,
        )
        self.escalations.append(view)
        self._record(
            DecisionKind.ESCALATED,
            now,
            SYSTEM,
            rule.reason,
            EscalatedPayload(
                level=rule.level,
                authority=view.authority,
                incident_level=self.escalation_level,
                rule_at_hours=rule.at_hours,
                unless=str(rule.unless),
            ),
        )

    def _window_closes(self, now: datetime) -> None:
        if self.policy.military_response:
            self.unmet = self.unmet_conditions()
            self._close(
                Outcome.NOT_ACTIVATED,
                now,
                f"Response window closed without activation; unmet: {', '.join(self.unmet) or 'none'}",
                NotActivatedPayload(outcome=str(Outcome.NOT_ACTIVATED), unmet=list(self.unmet)),
            )
        else:
            self._close(
                Outcome.DIPLOMATIC_RESPONSE,
                now,
                "Response window closed; the response stays diplomatic",
            )

    def _check_activation(self, now: datetime) -> None:
        if not self.policy.military_response or self._activation_waits():
            return
        committed = {
            p: c.assets for p, c in sorted(self.commitments.items()) if c.answer is Answer.COMMIT
        }
        assets = sorted({a for offered in committed.values() for a in offered})
        rationale = f"Verification, quorum and authorization hold: response activated with {', '.join(committed)}"
        payload = ActivatedPayload(
            outcome=str(Outcome.ACTIVATED),
            parties={p: list(a) for p, a in committed.items()},
            assets=assets,
        )
        self.activated_at = now
        after = self.after
        if after is None:
            self._close(Outcome.ACTIVATED, now, rationale, payload)
            return
        # The outcome is activated, at its time; the response stays open in phase active.
        payload["stays_active"] = True
        self.outcome = Outcome.ACTIVATED
        self.review_due_at = now + self._plan_hours(after.review_every_hours)
        self.force_holds = True
        self._record(DecisionKind.ACTIVATED, now, SYSTEM, rationale, payload)

    # -- inputs from people -----------------------------------------------------------------

    def check_open(self) -> None:
        """Input is accepted while the incident is open: deciding, or an active response (which
        still takes evidence, answers of parties not committed, acknowledgements, deployments
        and its own decisions)."""
        if not self.is_open:
            raise Rejected(
                f"incident {self.input.incident_id} has ended ({self.outcome}); no further input is accepted",
                conflict=True,
            )
        if self.handover is not None:
            raise Rejected(
                f"incident {self.input.incident_id} is being merged into {self.handover.into}; "
                f"submit to {self.handover.into}",
                conflict=True,
            )

    def check_evidence(self, evidence: EvidenceInput) -> None:
        self.check_open()
        if not evidence.source.strip():
            raise Rejected("source: must name who provides the evidence", field="source")
        if self.rules.text_rules:
            check_text(evidence.source, SOURCE)
            check_text(evidence.summary, SUMMARY)
            check_text(evidence.actor, ACTOR)
        if self.rules.bounded:
            check_carried("summary", evidence.summary, evidence.summary_ref)
            if (
                evidence.source.strip() not in self.sources
                and len(self.sources) >= limits.MAX_SOURCES
            ):
                raise Rejected(
                    f"source: this incident already has {limits.MAX_SOURCES} distinct sources; "
                    "evidence from a known source is still accepted",
                    field="source",
                )

    def check_commitment(self, commitment: CommitmentInput) -> None:
        self.check_open()
        if self.rules.text_rules:
            check_text(commitment.party, PARTY)
            check_text(commitment.actor, ACTOR)
            check_text(commitment.rationale, RATIONALE)
        if self.rules.bounded:
            check_carried("rationale", commitment.rationale, commitment.rationale_ref)
        plan = self.plan
        if commitment.party not in plan.parties:
            raise Rejected(
                f"party: {commitment.party!r} is not a guarantor party of plan {plan.id} ({', '.join(plan.parties)})",
                field="party",
            )
        unknown = [a for a in commitment.assets if a not in plan.assets]
        if unknown:
            raise Rejected(
                f"assets: unknown {unknown}; the plan knows {list(plan.assets)}", field="assets"
            )
        if len(set(commitment.assets)) != len(commitment.assets):
            raise Rejected("assets: each asset may be offered once", field="assets")
        if commitment.answer is Answer.COMMIT and not commitment.assets:
            raise Rejected("assets: a commitment must offer at least one asset", field="assets")
        if commitment.answer is Answer.DECLINE and commitment.assets:
            raise Rejected("assets: a decline offers no assets", field="assets")
        current = self.commitments.get(commitment.party)
        if self.active and current is not None and current.answer is Answer.COMMIT:
            raise Rejected(
                f"party: {commitment.party} is committed to the active response; it reports a "
                "withdrawal (POST /deployments, status withdrawn), not a new answer",
                field="party",
                conflict=True,
            )

    def check_decision(self, decision: DecisionInput, now: datetime | None = None) -> None:
        self.check_open()
        if not decision.actor.strip():
            raise Rejected("actor: an operator decision must name its actor", field="actor")
        if not decision.rationale.strip():
            raise Rejected(
                "rationale: an operator decision must give its rationale", field="rationale"
            )
        if self.rules.text_rules:
            check_text(decision.actor, ACTOR)
            check_text(decision.rationale, RATIONALE)
            if decision.new_kind is not None:
                check_text(decision.new_kind, PARTY, "new_kind")
        if self.rules.bounded:
            check_carried("rationale", decision.rationale, decision.rationale_ref)
        if decision.action is not Action.RECLASSIFY and decision.new_kind is not None:
            raise Rejected(
                "new_kind: only a reclassify decision names a new kind", field="new_kind"
            )
        if decision.action is not Action.MERGE and decision.into is not None:
            raise Rejected(
                "into: only a merge decision names an incident to merge into", field="into"
            )
        if decision.action is not Action.CORRECT_T0 and decision.observed_at is not None:
            raise Rejected(
                "observed_at: only a correct_t0 decision names a violation time",
                field="observed_at",
            )
        after_only = (Action.TERMINATE, Action.REVIEW)
        if self.active:
            if decision.action not in (*after_only, Action.STAND_DOWN):
                raise Rejected(
                    f"action: the response is active (activated at {self.activated_at:%Y-%m-%d %H:%M} "
                    f"UTC); it takes terminate, review or stand_down, not {decision.action}",
                    field="action",
                    conflict=True,
                )
            return
        if decision.action in after_only:
            raise Rejected(
                f"action: {decision.action} applies to an active response; this incident is in "
                f"phase {self.phase()}"
                + ("" if self.after is not None else " and its plan has no life after activation"),
                field="action",
                conflict=True,
            )
        if decision.action is Action.MERGE:
            merging.check_merge(self, decision)
        elif decision.action is Action.CORRECT_T0:
            if not self.rules.merging:
                raise Rejected(
                    "action: this incident started before T0 could be corrected",
                    field="action",
                    conflict=True,
                )
            merging.check_correct_t0(self, decision, now)
        elif decision.action is Action.CONFIRM:
            if self.verification is Verification.VERIFIED:
                raise Rejected(
                    "action: the violation is already verified", field="action", conflict=True
                )
        elif decision.action is Action.AUTHORIZE:
            if not self.policy.military_response:
                raise Rejected(
                    f"action: a {self.kind} calls for no military authorization",
                    field="action",
                    conflict=True,
                )
            if self.authorized_at is not None:
                raise Rejected(
                    f"action: already authorized by {self.authorized_by}",
                    field="action",
                    conflict=True,
                )
            if not self.quorum:
                short, missing = quorum_missing(self.plan, self.commitments)
                need = (
                    [f"{short} more committed part{'y' if short == 1 else 'ies'}"] if short else []
                )
                need += [f"a party offering {a}" for a in missing]
                raise Rejected(
                    f"action: authorization needs the allied quorum first (missing {' and '.join(need)})",
                    field="action",
                    conflict=True,
                )
        elif decision.action is Action.RECLASSIFY:
            if decision.new_kind is None:
                raise Rejected(
                    "new_kind: a reclassify decision must name the new kind", field="new_kind"
                )
            if not self.plan.has_kind(decision.new_kind):
                raise Rejected(
                    f"new_kind: {decision.new_kind!r} is not a kind of plan {self.plan.id} ({', '.join(self.plan.kind_names)})",
                    field="new_kind",
                )
            if decision.new_kind == self.kind:
                raise Rejected(
                    f"new_kind: the incident is already a {self.kind}",
                    field="new_kind",
                    conflict=True,
                )

    def add_evidence(self, evidence: EvidenceInput, now: datetime) -> None:
        self.check_evidence(evidence)
        source = evidence.source.strip()
        new = source not in self.sources
        self._record(
            DecisionKind.EVIDENCE_ACCEPTED,
            now,
            evidence.actor or source,
            evidence.summary,
            EvidencePayload(
                source=source,
                new_source=new,
                distinct_sources=len(self.sources) + (1 if new else 0),
            ),
            text=evidence.summary_ref,
        )
        self._add_source(source)
        verifiable = self.verification is Verification.PENDING or (
            self.verification is Verification.PRESUMED and self.rules.evidence_verifies_presumption
        )
        if verifiable and len(self.sources) >= self.plan.min_sources:
            self._verify(
                now,
                f"Evidence from {len(self.sources)} distinct sources: {', '.join(self.sources)}",
            )

    def add_commitment(self, commitment: CommitmentInput, now: datetime) -> None:
        self.check_commitment(commitment)
        previous = self.commitments.get(commitment.party)
        self._quorum = None
        self.commitments[commitment.party] = _Commitment(
            answer=commitment.answer,
            assets=tuple(commitment.assets),
            at=now,
            actor=commitment.actor or commitment.party,
        )
        self._record(
            DecisionKind.COMMITMENT,
            now,
            commitment.actor or commitment.party,
            commitment.rationale,
            CommitmentPayload(
                party=commitment.party,
                answer=str(commitment.answer),
                assets=list(commitment.assets),
                previous=None if previous is None else str(previous.answer),
            ),
            text=commitment.rationale_ref,
        )
        if self.active:
            # An answer after activation: a replacement for a withdrawal (or a decline).
            self._track_force(now)
            if commitment.answer is Answer.COMMIT and self.rules.notices:
                self.comms.order(self, now, commitment.party)
        else:
            self._track_quorum(now)

    def decide(self, decision: DecisionInput, now: datetime) -> None:
        self.check_decision(decision, now)
        if self.active:
            self._decide_after(decision, now)
            return
        if decision.action is Action.MERGE:
            merging.begin_merge(self, decision, now)
            return
        if decision.action is Action.CORRECT_T0:
            merging.correct_t0(self, decision, now)
            return
        payload: dict[str, Any] = {"action": str(decision.action)}
        if decision.action is Action.RECLASSIFY:
            payload.update({"from": self.kind, "to": decision.new_kind})
        self._record(
            DecisionKind.of_action(decision.action),
            now,
            decision.actor,
            decision.rationale,
            payload,
            text=decision.rationale_ref,
        )
        if decision.action is Action.CONFIRM:
            self._verify(now, f"Confirmed by {decision.actor}")
        elif decision.action is Action.AUTHORIZE:
            self.authorized_by, self.authorized_at = decision.actor, now
        elif decision.action is Action.STAND_DOWN:
            self._close(
                Outcome.STOOD_DOWN, now, f"Stood down by {decision.actor}: {decision.rationale}"
            )
        elif decision.action is Action.RECLASSIFY:
            assert decision.new_kind is not None
            self.kind = decision.new_kind
            if self.verification in (Verification.VERIFIED, Verification.PRESUMED):
                self._start_dispatch()

    # -- effects carried out by the workflow ------------------------------------------------

    def dispatch_succeeded(self, step: str, now: datetime, channel: str) -> None:
        self.dispatched[step] = now
        self._record(
            DecisionKind.DISPATCHED,
            now,
            SYSTEM,
            self.plan.step(step).title,
            {"step": step, "channel": channel},
        )

    def dispatch_failed(self, step: str, now: datetime, error: str) -> None:
        self._record(DecisionKind.DISPATCH_FAILED, now, SYSTEM, error, {"step": step})

    def cancel(self, now: datetime) -> None:
        """Temporal was asked to cancel the workflow (its Web UI, a client): the incident closes
        with that as its outcome, in the ledger like any other."""
        if self.active:
            self._terminate(
                now,
                "cancel",
                "Cancelled from Temporal, outside the engine's decisions",
                actor=TEMPORAL_CANCEL,
            )
        elif self.is_open:
            self._close(
                Outcome.CANCELLED,
                now,
                "Cancelled from Temporal, outside the engine's decisions",
                actor=TEMPORAL_CANCEL,
            )

    def dispatch_cancelled(self, step: str, now: datetime) -> None:
        self._record(
            DecisionKind.DISPATCH_CANCELLED,
            now,
            SYSTEM,
            "The response was stood down before the step went out",
            {"step": step},
        )

    # -- notices ----------------------------------------------------------------------------

    def check_acknowledge(self, ack: AcknowledgeInput) -> None:
        self.check_open()
        if self.rules.text_rules:
            check_text(ack.actor, ACTOR)
        if not ack.actor.strip():
            raise Rejected("actor: an acknowledgement must name who acknowledges", field="actor")
        if ack.via not in ("api", "link"):
            raise Rejected("via: an acknowledgement comes by api or by link", field="via")
        if ack.notice_id in self.comms.acknowledged:
            raise Rejected(
                f"notice_id: {ack.notice_id} is already acknowledged",
                field="notice_id",
                conflict=True,
            )
        if self.comms.awaited(ack.notice_id) is None:
            awaited = ", ".join(a.notice_id for a in self.comms.awaiting) or "none"
            raise Rejected(
                f"notice_id: {ack.notice_id!r} is not a notice awaiting acknowledgement "
                f"(awaiting: {awaited})",
                field="notice_id",
            )

    def acknowledge(self, ack: AcknowledgeInput, now: datetime) -> None:
        self.check_acknowledge(ack)
        awaited = self.comms.acknowledge(ack.notice_id)
        self._record(
            DecisionKind.ACKNOWLEDGED,
            now,
            ack.actor,
            f"Escalation to level {awaited.level} ({awaited.authority}) acknowledged",
            AcknowledgedPayload(notice=ack.notice_id, level=awaited.level, via=ack.via),
        )

    # -- reports of one offensive: joining a response ------------------------------------

    def check_join(self, report: ViolationReport, now: datetime | None = None) -> None:
        """What a report must satisfy to join this response (the checks of a report opening an
        incident, with the fields named as the intake names them)."""
        self.check_open()
        if not self.rules.joining:
            raise Rejected(
                f"joins: incident {self.input.incident_id} started before reports could join "
                "a response; report it on its own",
                field="joins",
                conflict=True,
            )
        check_report(replace(self.input, report=report), self.rules)
        if report.report_id in self.report_ids:
            return  # already joined: taking it again changes nothing
        if len(self.report_ids) >= limits.MAX_REPORTS:
            raise Rejected(
                f"joins: the response already holds {limits.MAX_REPORTS} reports; report this "
                "one on its own",
                field="joins",
                conflict=True,
            )
        observed = report.observed_at
        if now is not None and observed is not None and observed > now:
            raise Rejected(
                f"observed_at: {observed.isoformat()} is after the report reached the engine",
                field="observed_at",
            )

    def join_report(self, report: ViolationReport, now: datetime) -> None:
        """Another report of the same offensive joins the response: its sector, its reporter
        (a source, as every report's is) and its evidence. A violation observed before the
        response's T0 moves T0 to it while the plan's steps run: pending deadlines re-anchor,
        and those now past fall due at once, judged as for a late report (knowing the report's
        own sources). Verdicts already given stand. A report already joined changes nothing."""
        self.check_join(report, now)
        if report.report_id in self.report_ids:
            return
        observed = report.observed_at or now
        held = merging.held_t0(self, observed, report.reported_at or now)
        self.report_ids.append(report.report_id)
        self.other_reports.append(
            MergedReport(report.report_id, report.sector, report.reported_by, observed)
        )
        if report.sector not in self.sectors:
            self.sectors.append(report.sector)
        payload = ReportJoinedPayload(
            report_id=report.report_id,
            reported_by=report.reported_by,
            kind=report.kind,
            sector=report.sector,
            observed_at=observed.isoformat(),
            sectors=list(self.sectors),
            reports=len(self.report_ids),
            t0=self.clock.t0.isoformat(),
        )
        if held is not None:
            payload["t0_held_at"] = held.isoformat()
        t0 = held or observed
        if self.deciding and t0 < self.clock.t0:
            payload["t0_moved_from"] = self.clock.t0.isoformat()
            payload["t0"] = t0.isoformat()
            self.clock = PlanClock(t0=t0, time_scale=self.clock.time_scale)
        submitter = report.submitted_by or report.reported_by
        self._record(
            DecisionKind.REPORT_JOINED,
            now,
            submitter,
            report.summary,
            payload,
            text=report.summary_ref,
        )

        def its_sources(state: IncidentState, at: datetime) -> None:
            state._join_sources(report, submitter, at)

        if "t0_moved_from" in payload:
            self._fire(now, inclusive=False, incoming=its_sources)
        if self.is_open:
            its_sources(self, now)

    def _join_sources(self, report: ViolationReport, submitter: str, now: datetime) -> None:
        """The joining report's reporter counts as a source, as the first report's did; its
        evidence is taken as evidence."""
        reporter = report.reported_by
        if reporter not in self.sources and len(self.sources) < limits.MAX_SOURCES:
            self._add_source(reporter)
            verifiable = self.verification is Verification.PENDING or (
                self.verification is Verification.PRESUMED
                and self.rules.evidence_verifies_presumption
            )
            if self.deciding and verifiable and len(self.sources) >= self.plan.min_sources:
                self._verify(
                    now,
                    f"Reports and evidence from {len(self.sources)} distinct sources: "
                    f"{', '.join(self.sources)}",
                )
        for item in report.evidence:
            if self.is_open:
                self.add_evidence(
                    EvidenceInput(item.source, item.summary, submitter, item.summary_ref), now
                )

    # -- merges (workflows/merging.py) --------------------------------------------------------

    def check_absorb(self, handover: MergeHandover) -> None:
        merging.check_absorb(self, handover)

    def absorb(self, handover: MergeHandover, now: datetime) -> None:
        merging.absorb(self, handover, now)

    def merge_done(self, result: MergeResult, now: datetime) -> None:
        merging.merge_done(self, result, now)

    def merge_refused(self, reason: str, message: str, now: datetime) -> None:
        merging.merge_refused(self, reason, message, now)

    def commitment_views(self) -> list[CommitmentView]:
        return [
            CommitmentView(party=p, answer=c.answer, assets=c.assets, at=c.at, actor=c.actor)
            for p, c in self.commitments.items()
        ]

    # -- the cell's journal -----------------------------------------------------------------

    def check_note(self, note: NoteInput) -> None:
        self.check_open()
        if not note.text.strip():
            raise Rejected("text: a note must say something", field="text")
        if not note.actor.strip():
            raise Rejected("actor: a note must name who writes it", field="actor")
        if note.kind not in tuple(NoteKind):
            raise Rejected(f"kind: {note.kind!r} is not note or handover", field="kind")
        check_text(note.text, NOTE)
        check_text(note.actor, ACTOR)
        check_carried("text", note.text, note.text_ref)

    def add_note(self, note: NoteInput, now: datetime) -> None:
        """A journal entry in the ledger: no rule reads it, nothing else changes."""
        self.check_note(note)
        self._record(
            DecisionKind.NOTE,
            now,
            note.actor,
            note.text,
            NotePayload(note=str(note.kind)),
            text=note.text_ref,
        )

    def take_notices(self) -> list[NoticeInput]:
        """The notices queued since the last call, for the workflow to send."""
        queued, self.comms.queue = self.comms.queue, []
        return queued

    def notice_result(self, notice: NoticeInput, result: NoticeResult, now: datetime) -> None:
        """What the notice activity reported: one ``notified``, and a ``delivery_failed`` per
        recipient it could not reach."""
        kind = str(notice.notice_kind)
        undelivered = sorted({u.audience for u in result.undelivered})
        payload = NotifiedPayload(
            notice=notice.notice_id,
            notice_kind=kind,
            delivered=list(result.delivered),
            recipients=result.recipients,
            undelivered=undelivered,
            unconfigured=list(result.unconfigured),
        )
        if notice.acknowledges and notice.acknowledges != notice.notice_id:
            payload["acknowledges"] = notice.acknowledges
            payload["repeat"] = notice.facts.repeat
        self.comms.delivered += 1
        self.comms.reported += 1
        self._record(
            DecisionKind.NOTIFIED,
            now,
            SYSTEM,
            _notice_title(notice),
            payload,
        )
        for failed in result.undelivered:
            self.comms.undelivered += 1
            self._record(
                DecisionKind.DELIVERY_FAILED,
                now,
                SYSTEM,
                failed.error[: limits.TEXT_IN_WORKFLOW],
                DeliveryFailedPayload(
                    notice=notice.notice_id,
                    notice_kind=kind,
                    audience=failed.audience,
                    channel=failed.channel,
                ),
            )

    def notice_failed(self, notice: NoticeInput, error: str, now: datetime) -> None:
        """The notice activity itself failed for good (a broken contacts file): nobody was told."""
        self.comms.undelivered += len(notice.addressees)
        self.comms.reported += 1
        for addressee in notice.addressees:
            self._record(
                DecisionKind.DELIVERY_FAILED,
                now,
                SYSTEM,
                error[: limits.TEXT_IN_WORKFLOW],
                DeliveryFailedPayload(
                    notice=notice.notice_id,
                    notice_kind=str(notice.notice_kind),
                    audience=addressee.audience,
                    channel="",
                ),
            )

    def closing_rationale(self) -> str:
        """The closing decision's rationale, as the close notice quotes it."""
        closing = next(
            (d for d in reversed(self.decisions) if DecisionKind(d.kind).closes),
            None,
        )
        return "" if closing is None else closing.rationale

    # -- internals --------------------------------------------------------------------------

    def _add_source(self, source: str) -> None:
        if source not in self.sources:
            self.sources.append(source)

    def _verify(self, now: datetime, rationale: str) -> None:
        self.verification = Verification.VERIFIED
        self.verified_at = now
        self._record(
            DecisionKind.VERIFIED,
            now,
            SYSTEM,
            rationale,
            VerifiedPayload(sources=list(self.sources)),
        )
        self._start_dispatch()

    def _start_dispatch(self) -> None:
        if not self.deciding:
            return  # nothing new starts after the closing decision (or the activation)
        for step in self.steps_for_kind:
            if step not in self.dispatch_started:
                self.dispatch_started.append(step)
                self.dispatch_queue.append(step)

    def _track_quorum(self, now: datetime) -> None:
        holds = self.quorum
        if holds == self.quorum_reached:
            return
        self.quorum_reached = holds
        self.quorum_since = now if holds else None
        committed = sorted(p for p, c in self.commitments.items() if c.answer is Answer.COMMIT)
        if holds:
            self._record(
                DecisionKind.QUORUM_REACHED,
                now,
                SYSTEM,
                f"Committed: {', '.join(committed)}",
                QuorumReachedPayload(committed=committed),
            )
        else:
            short, missing = quorum_missing(self.plan, self.commitments)
            self._record(
                DecisionKind.QUORUM_LOST,
                now,
                SYSTEM,
                "A change of answer broke the quorum",
                QuorumLostPayload(committed=committed, short=short, missing_assets=list(missing)),
            )

    def _close(
        self,
        outcome: Outcome,
        now: datetime,
        rationale: str,
        payload: dict[str, Any] | None = None,
        actor: str = SYSTEM,
    ) -> None:
        self.outcome = outcome
        self.closed_at = now
        self._record(
            DecisionKind.of_outcome(outcome),
            now,
            actor,
            rationale,
            payload or {"outcome": str(outcome)},
        )

    def _record(
        self,
        kind: DecisionKind,
        now: datetime,
        actor: str,
        rationale: str = "",
        payload: dict[str, Any] | None = None,
        text: TextRef | None = None,
    ) -> Decision:
        content = dict(payload or {})
        if text is not None:  # the full text is the database's; the chain seals its digest
            content[TEXT_KEY] = TextPayload(sha256=text.sha256, chars=text.chars)
        decision = Decision(
            seq=self.seq + 1,
            kind=str(kind),
            at=now,
            t_plus_hours=self.clock.hours_since_t0(now),
            actor=actor,
            rationale=rationale,
            payload=content,
            run_id=self.run_id,
        )
        if self.rules.sealed_ledger:
            prev = self.decisions[-1].hash if self.decisions else genesis_hash(self.workflow_id)
            digest = decision_hash(prev, self.input.incident_id, self.workflow_id, decision)
            decision = replace(decision, prev_hash=prev, hash=digest)
        self.decisions.append(decision)
        self.seq = decision.seq
        phase = self.phase()
        if not self.phases or self.phases[-1].phase is not phase:
            self.phases.append(PhaseChange(phase, now, decision.t_plus_hours))
            if len(self.phases) > limits.PHASE_CHANGES:
                del self.phases[1]  # the first (the report's) and the latest are kept
        return decision

    # -- after activation -------------------------------------------------------------------

    def _plan_hours(self, hours: float) -> timedelta:
        return self.clock.scaled(timedelta(hours=hours))

    @property
    def limit_at(self) -> datetime | None:
        """When an active response ends by itself (the plan's max_days after activation)."""
        after = self.after
        if after is None or self.activated_at is None:
            return None
        return self.activated_at + self._plan_hours(after.max_days * 24)

    def _after_moments(self) -> list[datetime]:
        return [m for m in (self.review_due_at, self.limit_at) if m is not None]

    def _after_schedule(self) -> tuple[ScheduleEntry, ...]:
        after, limit = self.after, self.limit_at
        if after is None or limit is None:
            return ()
        entries = []
        due = self.review_due_at
        if due is not None and due < limit:
            hours = self.clock.hours_since_t0(due)
            missed = self.reviews_missed + 1
            rule = after.review_escalation(missed)
            unless = (
                f"; escalation to level {rule.level} ({self.plan.authority(rule.level)}) if missed"
                if rule is not None
                else ""
            )
            entries.append(
                ScheduleEntry(
                    "review",
                    f"Periodic review due {format_offset(hours)}{unless}",
                    due,
                    hours,
                    ScheduleKind.REVIEW,
                )
            )
        hours = self.clock.hours_since_t0(limit)
        entries.append(
            ScheduleEntry(
                "limit",
                f"Response ends by the plan's limit {format_offset(hours)} ({after.max_days:g} days "
                "after activation)",
                limit,
                hours,
                ScheduleKind.LIMIT,
            )
        )
        return tuple(entries)

    def _fire_after(self, now: datetime, *, inclusive: bool) -> None:
        """Judge what fell due after activation by ``now``: missed reviews, in order, then the
        limit (a review due at the limit itself is moot)."""
        after, limit = self.after, self.limit_at
        assert after is not None and limit is not None
        while self.active:
            due = min(self._after_moments())
            if due > now or (due == now and not inclusive):
                return
            if due >= limit:
                self._terminate(now, "limit", after.limit_reason)
                return
            self._review_missed(due, now)

    def _review_missed(self, due: datetime, now: datetime) -> None:
        after = self.after
        assert after is not None
        self.reviews_missed += 1
        self.review_due_at = due + self._plan_hours(after.review_every_hours)
        self._record(
            DecisionKind.LAPSED,
            now,
            SYSTEM,
            f"Periodic review due {format_offset(self.clock.hours_since_t0(due))} not held",
            LapsedPayload(deadline="review", due_at=due.isoformat()),
        )
        rule = after.review_escalation(self.reviews_missed)
        if rule is not None:
            self._escalate_after(now, rule.level, rule.reason, "review_missed", "reviewed", due)

    def _escalate_after(
        self, now: datetime, level: int, reason: str, cause: str, unless: str, at: datetime
    ) -> None:
        """An escalation of the active response: recorded, and paged even at the level the
        incident is already at (the notice repeats until acknowledged)."""
        self.escalation_level = max(self.escalation_level, level)
        view = EscalationView(
            level=level,
            authority=self.plan.authority(level),
            at=now,
            t_plus_hours=self.clock.hours_since_t0(now),
            reason=reason,
        )
        self.escalations.append(view)
        self._record(
            DecisionKind.ESCALATED,
            now,
            SYSTEM,
            reason,
            EscalatedPayload(
                level=level,
                authority=view.authority,
                incident_level=self.escalation_level,
                rule_at_hours=self.clock.hours_since_t0(at),
                unless=unless,
                cause=cause,
            ),
        )

    def _decide_after(self, decision: DecisionInput, now: datetime) -> None:
        after = self.after
        assert after is not None
        payload: dict[str, Any] = {"action": str(decision.action)}
        if decision.action is Action.REVIEW:
            next_due = now + self._plan_hours(after.review_every_hours)
            payload = ReviewPayload(
                action=str(decision.action),
                review=self.reviews_held + self.reviews_missed + 1,
                next_due_at=next_due.isoformat(),
            )
        self._record(
            DecisionKind.of_action(decision.action),
            now,
            decision.actor,
            decision.rationale,
            payload,
            text=decision.rationale_ref,
        )
        if decision.action is Action.REVIEW:
            self.reviews_held += 1
            self.reviews_missed = 0
            self.review_due_at = next_due
            return
        how = "Terminated" if decision.action is Action.TERMINATE else "Stood down"
        self._terminate(
            now, str(decision.action), f"{how} by {decision.actor}: {decision.rationale}"
        )

    def _terminate(self, now: datetime, by: str, rationale: str, actor: str = SYSTEM) -> None:
        """The end of an active response: its outcome stays activated; it closes now."""
        assert self.activated_at is not None
        self.closed_at = now
        self.termination_rationale = rationale[: limits.TEXT_IN_WORKFLOW]
        self.review_due_at = None
        self._record(
            DecisionKind.TERMINATED,
            now,
            actor,
            self.termination_rationale,
            TerminatedPayload(
                outcome=str(Outcome.ACTIVATED),
                by=by,
                activated_at=self.activated_at.isoformat(),
                active_hours=round(
                    self.clock.hours_since_t0(now) - self.clock.hours_since_t0(self.activated_at),
                    4,
                ),
            ),
        )

    def _forces(self) -> dict[str, _Commitment]:
        """The committed parties as they stand after activation: withdrawn assets removed, and a
        party that withdrew all of them no longer counted."""
        forces = {}
        for party, c in self.commitments.items():
            if c.answer is not Answer.COMMIT:
                continue
            gone = set(self.withdrawn.get(party, ()))
            remaining = tuple(a for a in c.assets if a not in gone)
            if remaining:
                forces[party] = replace(c, assets=remaining)
        return forces

    def _track_force(self, now: datetime) -> None:
        """After activation: a withdrawal that breaks the quorum escalates and calls the parties
        not committed for replacements; replacements that restore it are recorded."""
        forces = self._forces()
        holds = quorum_holds(self.plan, forces)
        if holds == self.force_holds:
            return
        self.force_holds = holds
        committed = sorted(forces)
        if holds:
            self._record(
                DecisionKind.QUORUM_REACHED,
                now,
                SYSTEM,
                f"The active response's quorum holds again: {', '.join(committed)}",
                QuorumReachedPayload(committed=committed),
            )
            return
        after = self.after
        assert after is not None
        short, missing = quorum_missing(self.plan, forces)
        self._record(
            DecisionKind.QUORUM_LOST,
            now,
            SYSTEM,
            "A withdrawal broke the quorum of the active response",
            QuorumLostPayload(committed=committed, short=short, missing_assets=list(missing)),
        )
        self._escalate_after(
            now, after.withdrawal_level, after.withdrawal_reason, "withdrawal", "quorum", now
        )
        if self.rules.notices:
            self.comms.call_for_replacement(self, now, after.withdrawal_reason)

    def check_deployment(self, report: DeploymentInput) -> None:
        self.check_open()
        if self.rules.text_rules:
            check_text(report.party, PARTY)
            check_text(report.actor, ACTOR)
            check_text(report.rationale, RATIONALE)
        if self.rules.bounded:
            check_carried("rationale", report.rationale, report.rationale_ref)
        if not self.active:
            raise Rejected(
                f"status: {report.status} is reported after activation; this incident is in "
                f"phase {self.phase()}"
                + ("" if self.after is not None else " and its plan has no life after activation"),
                field="status",
                conflict=True,
            )
        plan = self.plan
        if report.party not in plan.parties:
            raise Rejected(
                f"party: {report.party!r} is not a guarantor party of plan {plan.id} ({', '.join(plan.parties)})",
                field="party",
            )
        commitment = self.commitments.get(report.party)
        if commitment is None or commitment.answer is not Answer.COMMIT:
            raise Rejected(
                f"party: {report.party} has not committed to this response; only a committed "
                f"party reports {report.status}",
                field="party",
            )
        if not report.assets:
            raise Rejected(f"assets: name the assets {report.status}", field="assets")
        if len(set(report.assets)) != len(report.assets):
            raise Rejected("assets: each asset may be named once", field="assets")
        foreign = [a for a in report.assets if a not in commitment.assets]
        if foreign:
            raise Rejected(
                f"assets: {report.party} committed {list(commitment.assets)}, not {foreign}",
                field="assets",
            )
        if report.status is DeploymentStatus.WITHDRAWN:
            gone = [a for a in report.assets if a in self.withdrawn.get(report.party, ())]
            if gone:
                raise Rejected(f"assets: {gone} already withdrawn", field="assets")

    def report_deployment(self, report: DeploymentInput, now: datetime) -> None:
        self.check_deployment(report)
        party, assets = report.party, tuple(report.assets)
        withdrawn = self.withdrawn.get(party, ())
        deployed = self.deployed.get(party, ())
        if report.status is DeploymentStatus.DEPLOYED:
            # Assets deployed again after a withdrawal count once more.
            withdrawn = tuple(a for a in withdrawn if a not in assets)
            deployed = tuple(sorted({*deployed, *assets}))
        else:
            withdrawn = tuple(sorted({*withdrawn, *assets}))
            deployed = tuple(a for a in deployed if a not in assets)
        self.withdrawn[party], self.deployed[party] = withdrawn, deployed
        self.deployment_at[party] = now
        committed = self.commitments[party].assets
        self._record(
            DecisionKind(str(report.status)),
            now,
            report.actor or party,
            report.rationale,
            DeploymentPayload(
                party=party,
                status=str(report.status),
                assets=list(assets),
                remaining=[a for a in committed if a not in withdrawn],
                force_holds=quorum_holds(self.plan, self._forces()),
            ),
            text=report.rationale_ref,
        )
        self._track_force(now)

    def deployment_views(self) -> tuple[DeploymentView, ...]:
        if self.outcome is not Outcome.ACTIVATED or self.after is None:
            return ()
        return tuple(
            DeploymentView(
                party=p,
                committed=c.assets,
                deployed=self.deployed.get(p, ()),
                withdrawn=self.withdrawn.get(p, ()),
                at=self.deployment_at.get(p, c.at),
            )
            for p, c in sorted(self.commitments.items())
            if c.answer is Answer.COMMIT
        )

    # -- the view ---------------------------------------------------------------------------

    def deadline_views(self) -> tuple[DeadlineView, ...]:
        views = []
        for deadline in self.plan.deadlines:
            name = deadline.name
            if name in self.results:
                status = DeadlineStatus.MET if self.results[name] else DeadlineStatus.MISSED
            elif not self._condition_applies(deadline.condition):
                status = DeadlineStatus.NOT_APPLICABLE
            elif self._condition_holds(deadline.condition):
                status = DeadlineStatus.MET
            elif not self.deciding:
                status = DeadlineStatus.MOOT
            else:
                status = DeadlineStatus.PENDING
            met_at = self._met_at(deadline.condition)
            views.append(
                DeadlineView(
                    name=name,
                    title=deadline.title,
                    due_at=self.clock.at(deadline.due_hours),
                    due_hours=deadline.due_hours,
                    status=status,
                    met_at=met_at,
                    met_hours=None if met_at is None else self.clock.hours_since_t0(met_at),
                )
            )
        return tuple(views)

    def _met_at(self, condition: Condition) -> datetime | None:
        """When ``condition`` last came to hold, if it holds now."""
        if not self._condition_holds(condition):
            return None
        if condition is Condition.VERIFIED:
            return self.verified_at
        if condition is Condition.QUORUM:
            return self.quorum_since
        if condition is Condition.DISPATCHED:
            return max((self.dispatched[s] for s in self.steps_for_kind), default=None)
        if condition is Condition.AUTHORIZED:
            return self.authorized_at
        return self.activated_at or self.closed_at

    def snapshot(self) -> IncidentSnapshot:
        """The incident's header and where it stands (the read side's row, the search attributes,
        the start of every view)."""
        report = self.input.report
        return IncidentSnapshot(
            incident_id=self.input.incident_id,
            report_id=report.report_id,
            plan_id=self.plan.id,
            plan_version=self.plan.version,
            kind=self.kind,
            sector=report.sector,
            reported_by=report.reported_by,
            summary=report.summary,
            exercise=self.input.exercise,
            t0=self.clock.t0,
            reported_at=self.reported_at,
            window_closes_at=self.clock.at(self.plan.activation_window_hours),
            phase=self.phase(),
            outcome=self.outcome,
            escalation_level=self.escalation_level,
            closed_at=self.closed_at,
            schedule=self.schedule(),
            activated_at=self.activated_at,
            termination_rationale=self.termination_rationale,
            sectors=tuple(self.sectors),
            reports=len(self.report_ids),
            merged_into=self.merged_into,
            merged_from=tuple(self.merged_from),
        )

    def view(
        self, persisted_seq: int = 0, run: int = 1, ledger_problem: str | None = None
    ) -> IncidentView:
        snapshot = self.snapshot()
        short, missing = quorum_missing(self.plan, self.commitments)
        header = {f: getattr(snapshot, f) for f in IncidentSnapshot.__dataclass_fields__}
        return IncidentView(
            **header,
            time_scale=self.input.time_scale,
            awaiting=self.awaiting(),
            escalation_authority=self.plan.authority(self.escalation_level),
            verification=self.verification,
            sources=tuple(self.sources),
            quorum=QuorumView(
                committed=tuple(
                    sorted(p for p, c in self.commitments.items() if c.answer is Answer.COMMIT)
                ),
                declined=tuple(
                    sorted(p for p, c in self.commitments.items() if c.answer is Answer.DECLINE)
                ),
                min_committed=self.plan.quorum.min_committed,
                required_assets=self.plan.quorum.required_assets,
                missing_assets=missing,
                holds=short == 0 and not missing,
                applies=self.policy.consultation,
            ),
            commitments=tuple(
                CommitmentView(party=p, answer=c.answer, assets=c.assets, at=c.at, actor=c.actor)
                for p, c in sorted(self.commitments.items())
            ),
            authorized_by=self.authorized_by,
            dispatched=tuple(self.dispatched),
            deadlines=self.deadline_views(),
            escalations=tuple(self.escalations),
            unmet_conditions=self.unmet if self.outcome is not None else self.unmet_conditions(),
            timeline=tuple(self.decisions[-limits.RECENT_DECISIONS :]),
            persisted_seq=persisted_seq,
            phases=tuple(self.phases),
            decisions_total=self.seq,
            run=run,
            ledger_problem=ledger_problem,
            persisted_head=self.hash_of(persisted_seq),
            awaiting_ack=tuple(self.comms.awaiting),
            notices_sent=self.comms.sent,
            undelivered=self.comms.undelivered,
            notices_pending=self.comms.sent - self.comms.reported
            if self.rules.after_activation
            else 0,
            deployments=self.deployment_views(),
            next_review_at=self.review_due_at if self.active else None,
            reviews_missed=self.reviews_missed,
            force_holds=self.force_holds
            if self.outcome is Outcome.ACTIVATED and self.after
            else None,
            merging_into=None if self.handover is None else self.handover.into,
        )

    def hash_of(self, seq: int) -> str:
        """The seal of decision ``seq`` if the state still holds it ("" otherwise)."""
        return next((d.hash for d in reversed(self.decisions) if d.seq == seq), "")


_NOTICE_TITLES = {
    NoticeKind.CONSULTATION_REQUEST: "Consultation request",
    NoticeKind.REMINDER: "Consultation reminder",
    NoticeKind.ESCALATION: "Escalation notice",
    NoticeKind.ACTIVATION_ORDER: "Activation order",
    NoticeKind.CLOSE: "Close notice",
    NoticeKind.CALL_FOR_REPLACEMENT: "Call for replacement",
}


def _notice_title(notice: NoticeInput) -> str:
    title = _NOTICE_TITLES[notice.notice_kind]
    if notice.notice_kind is NoticeKind.ESCALATION:
        title += f" to level {notice.facts.escalation_level} ({notice.facts.level_title})"
        if notice.facts.repeat:
            title += f", repeat {notice.facts.repeat}"
    return f"{title}: {len(notice.addressees)} audience(s)"
