"""The plan's logic as a pure state machine: no Temporal, no I/O, no clock of its own.

The workflow feeds it the time (``workflow.now()``) and the inputs it receives, and carries out
the effects it asks for (ledger writes, diplomatic dispatches). Keeping the rules here means they
are tested exhaustively without a server, and the workflow stays a thin, readable shell.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plans.model import Condition, EscalationRule, KindPolicy, Plan, WhenUnverified
from workflows.clock import PlanClock, format_offset
from workflows.messages import (
    Action,
    Answer,
    Awaiting,
    CommitmentInput,
    CommitmentView,
    DeadlineStatus,
    DeadlineView,
    Decision,
    DecisionInput,
    EscalationView,
    EvidenceInput,
    IncidentInput,
    IncidentView,
    Outcome,
    Phase,
    QuorumView,
    Verification,
)

SYSTEM = "system"

DEADLINE_TITLES = {
    "verification": "Verification",
    "consultation": "Allied consultation quorum",
    "diplomacy": "Diplomatic steps dispatched",
    "authorization": "Military authorization",
    "activation": "Activation",
}


class Rejected(ValueError):
    """An input the plan does not allow at this moment; the update is refused."""


@dataclass(frozen=True)
class _Event:
    """Something that happens at a fixed offset from T0 unless the incident has closed."""

    key: str
    hours: float
    order: int  # deadlines before escalations before the window closing, at the same instant
    deadline: str | None = None
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
    short, missing = quorum_missing(plan, commitments)
    return short == 0 and not missing


def _events(plan: Plan) -> tuple[_Event, ...]:
    deadlines = (
        ("verification", plan.verification_due_hours),
        ("consultation", plan.consultation_due_hours),
        ("diplomacy", plan.diplomacy_due_hours),
        ("authorization", plan.authorization_due_hours),
        ("activation", plan.activation_window_hours),
    )
    events = [
        _Event(key=f"deadline:{name}", hours=h, order=0, deadline=name) for name, h in deadlines
    ]
    events += [
        _Event(key=f"rule:{i}", hours=r.at_hours, order=1, rule=r)
        for i, r in enumerate(plan.escalations)
    ]
    events.append(_Event(key="window", hours=plan.activation_window_hours, order=2))
    return tuple(sorted(events, key=lambda e: (e.hours, e.order)))


class IncidentState:
    """One incident under one plan. Every method takes the current time; none reads a clock."""

    def __init__(self, incident: IncidentInput, now: datetime) -> None:
        report = incident.report
        self.input = incident
        self.plan = incident.plan
        if not self.plan.has_kind(report.kind):
            raise Rejected(
                f"kind: {report.kind!r} is not a kind of plan {self.plan.id!r} ({', '.join(self.plan.kind_names)})"
            )
        self.kind = report.kind
        self.reported_at = report.reported_at or now
        self.clock = PlanClock(
            t0=report.observed_at or self.reported_at, time_scale=incident.time_scale
        )
        self.events = _events(self.plan)
        self.fired: set[str] = set()
        self.results: dict[str, bool] = {}
        self.decisions: list[Decision] = []
        self.sources: list[str] = []
        self.verification = Verification.PENDING
        self.commitments: dict[str, _Commitment] = {}
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
        # Independent evidence arriving after the plan proceeded on presumption verifies the
        # violation. Incidents started before this rule keep the old behaviour on replay: the
        # workflow sets this from workflow.patched().
        self.evidence_verifies_presumption = False

        self._record(
            "reported",
            now,
            report.submitted_by or report.reported_by,
            report.summary,
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
        self._add_source(report.reported_by)
        for evidence in report.evidence:
            self.add_evidence(
                EvidenceInput(
                    evidence.source, evidence.summary, report.submitted_by or report.reported_by
                ),
                now,
            )

    # -- what the plan says now -------------------------------------------------------------

    @property
    def policy(self) -> KindPolicy:
        return self.plan.kind(self.kind)

    @property
    def is_open(self) -> bool:
        return self.outcome is None

    @property
    def quorum(self) -> bool:
        return quorum_holds(self.plan, self.commitments)

    @property
    def steps_for_kind(self) -> tuple[str, ...]:
        return self.policy.diplomatic_steps

    def _condition_applies(self, condition: Condition) -> bool:
        if condition is Condition.QUORUM:
            return self.policy.consultation
        if condition is Condition.AUTHORIZED:
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
        return self.authorized_at is not None

    def _deadline_applies(self, name: str) -> bool:
        if name == "consultation":
            return self.policy.consultation
        if name == "diplomacy":
            return bool(self.steps_for_kind)
        if name in ("authorization", "activation"):
            return self.policy.military_response
        return True

    def _deadline_met(self, name: str) -> bool:
        if name == "verification":
            return self.verification is Verification.VERIFIED
        if name == "consultation":
            return self.quorum
        if name == "diplomacy":
            return self._condition_holds(Condition.DISPATCHED)
        if name == "authorization":
            return self.authorized_at is not None
        return self.outcome is Outcome.ACTIVATED

    def _applies(self, event: _Event) -> bool:
        if event.deadline is not None:
            return self._deadline_applies(event.deadline)
        if event.rule is not None:
            kinds = event.rule.kinds
            return (not kinds or self.kind in kinds) and self._condition_applies(event.rule.unless)
        return True

    def phase(self) -> Phase:
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
            Phase.CLOSED: Awaiting.NONE,
        }[self.phase()]

    def unmet_conditions(self) -> tuple[str, ...]:
        unmet = []
        if self.verification not in (Verification.VERIFIED, Verification.PRESUMED):
            unmet.append("verification")
        if self.policy.consultation and not self.quorum:
            unmet.append("quorum")
        if self.policy.military_response and self.authorized_at is None:
            unmet.append("authorization")
        return tuple(unmet)

    def next_event_at(self) -> datetime | None:
        """When the workflow must next wake up by itself, if the incident is still open."""
        if not self.is_open:
            return None
        pending = [e for e in self.events if e.key not in self.fired and self._applies(e)]
        return min((self.clock.at(e.hours) for e in pending), default=None)

    def next_event_label(self) -> str:
        at = self.next_event_at()
        labels = [
            self._event_label(e)
            for e in self.events
            if e.key not in self.fired and self._applies(e) and self.clock.at(e.hours) == at
        ]
        return "; ".join(labels)

    def _event_label(self, event: _Event) -> str:
        offset = format_offset(event.hours)
        if event.deadline is not None:
            return f"{DEADLINE_TITLES[event.deadline]} deadline {offset}"
        if event.rule is not None:
            return f"Escalation check ({event.rule.unless}) {offset}"
        return f"Response window closes {offset}"

    # -- the passage of time ----------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Fire, in order, everything due at or before ``now``; activate the moment all conditions hold."""
        while self.is_open:
            self._check_activation(now)
            if not self.is_open:
                return
            due = next(
                (
                    e
                    for e in self.events
                    if e.key not in self.fired
                    and self.clock.at(e.hours) <= now
                    and self._applies(e)
                ),
                None,
            )
            if due is None:
                return
            self.fired.add(due.key)
            if due.deadline is not None:
                self._deadline_falls_due(due.deadline, now)
            elif due.rule is not None:
                self._rule_falls_due(due.rule, now)
            else:
                self._window_closes(now)

    def preview(self, now: datetime) -> IncidentState:
        """The state advanced to ``now``, for validators: itself when nothing falls due by then
        (checks never change it), else an advanced copy."""
        due = self.next_event_at()
        if due is None or due > now:
            return self
        probe = copy.deepcopy(self)
        probe.advance(now)
        return probe

    def _deadline_falls_due(self, name: str, now: datetime) -> None:
        met = self._deadline_met(name)
        self.results[name] = met
        if not met:
            self._record(
                "lapsed",
                now,
                SYSTEM,
                f"{DEADLINE_TITLES[name]} deadline {format_offset(self._deadline_hours(name))} passed unmet",
                deadline=name,
                due_at=self.clock.at(self._deadline_hours(name)).isoformat(),
            )
        if name == "verification" and not met:
            if self.policy.when_unverified is WhenUnverified.PRESUME:
                self.verification = Verification.PRESUMED
                self._record(
                    "presumed",
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
            "escalated",
            now,
            SYSTEM,
            rule.reason,
            level=rule.level,
            authority=view.authority,
            incident_level=self.escalation_level,
            rule_at_hours=rule.at_hours,
            unless=str(rule.unless),
        )

    def _window_closes(self, now: datetime) -> None:
        if self.policy.military_response:
            self.unmet = self.unmet_conditions()
            self._close(
                Outcome.NOT_ACTIVATED,
                now,
                f"Response window closed without activation; unmet: {', '.join(self.unmet) or 'none'}",
                unmet=list(self.unmet),
            )
        else:
            self._close(
                Outcome.DIPLOMATIC_RESPONSE,
                now,
                "Response window closed; the response stays diplomatic",
            )

    def _check_activation(self, now: datetime) -> None:
        if not self.policy.military_response or self.unmet_conditions():
            return
        committed = {
            p: c.assets for p, c in sorted(self.commitments.items()) if c.answer is Answer.COMMIT
        }
        assets = sorted({a for offered in committed.values() for a in offered})
        self._close(
            Outcome.ACTIVATED,
            now,
            f"Verification, quorum and authorization hold: response activated with {', '.join(committed)}",
            parties={p: list(a) for p, a in committed.items()},
            assets=assets,
        )

    def _deadline_hours(self, name: str) -> float:
        return next(e.hours for e in self.events if e.deadline == name)

    # -- inputs from people -----------------------------------------------------------------

    def check_open(self) -> None:
        if not self.is_open:
            raise Rejected(
                f"incident {self.input.incident_id} has ended ({self.outcome}); no further input is accepted"
            )

    def check_evidence(self, evidence: EvidenceInput) -> None:
        self.check_open()
        if not evidence.source.strip():
            raise Rejected("source: must name who provides the evidence")

    def check_commitment(self, commitment: CommitmentInput) -> None:
        self.check_open()
        if commitment.party not in self.plan.parties:
            raise Rejected(
                f"party: {commitment.party!r} is not a guarantor party of plan {self.plan.id} ({', '.join(self.plan.parties)})"
            )
        unknown = [a for a in commitment.assets if a not in self.plan.assets]
        if unknown:
            raise Rejected(f"assets: unknown {unknown}; the plan knows {list(self.plan.assets)}")
        if len(set(commitment.assets)) != len(commitment.assets):
            raise Rejected("assets: each asset may be offered once")
        if commitment.answer is Answer.COMMIT and not commitment.assets:
            raise Rejected("assets: a commitment must offer at least one asset")
        if commitment.answer is Answer.DECLINE and commitment.assets:
            raise Rejected("assets: a decline offers no assets")

    def check_decision(self, decision: DecisionInput) -> None:
        self.check_open()
        if not decision.actor.strip():
            raise Rejected("actor: an operator decision must name its actor")
        if not decision.rationale.strip():
            raise Rejected("rationale: an operator decision must give its rationale")
        if decision.action is not Action.RECLASSIFY and decision.new_kind is not None:
            raise Rejected("new_kind: only a reclassify decision names a new kind")
        if decision.action is Action.CONFIRM:
            if self.verification is Verification.VERIFIED:
                raise Rejected("action: the violation is already verified")
        elif decision.action is Action.AUTHORIZE:
            if not self.policy.military_response:
                raise Rejected(f"action: a {self.kind} calls for no military authorization")
            if self.authorized_at is not None:
                raise Rejected(f"action: already authorized by {self.authorized_by}")
            if not self.quorum:
                short, missing = quorum_missing(self.plan, self.commitments)
                need = (
                    [f"{short} more committed part{'y' if short == 1 else 'ies'}"] if short else []
                )
                need += [f"a party offering {a}" for a in missing]
                raise Rejected(
                    f"action: authorization needs the allied quorum first (missing {' and '.join(need)})"
                )
        elif decision.action is Action.RECLASSIFY:
            if decision.new_kind is None:
                raise Rejected("new_kind: a reclassify decision must name the new kind")
            if not self.plan.has_kind(decision.new_kind):
                raise Rejected(
                    f"new_kind: {decision.new_kind!r} is not a kind of plan {self.plan.id} ({', '.join(self.plan.kind_names)})"
                )
            if decision.new_kind == self.kind:
                raise Rejected(f"new_kind: the incident is already a {self.kind}")

    def add_evidence(self, evidence: EvidenceInput, now: datetime) -> None:
        self.check_evidence(evidence)
        source = evidence.source.strip()
        new = source not in self.sources
        self._record(
            "evidence_accepted",
            now,
            evidence.actor or source,
            evidence.summary,
            source=source,
            new_source=new,
            distinct_sources=len(self.sources) + (1 if new else 0),
        )
        self._add_source(source)
        verifiable = self.verification is Verification.PENDING or (
            self.verification is Verification.PRESUMED and self.evidence_verifies_presumption
        )
        if verifiable and len(self.sources) >= self.plan.min_sources:
            self._verify(
                now,
                f"Evidence from {len(self.sources)} distinct sources: {', '.join(self.sources)}",
            )

    def add_commitment(self, commitment: CommitmentInput, now: datetime) -> None:
        self.check_commitment(commitment)
        previous = self.commitments.get(commitment.party)
        self.commitments[commitment.party] = _Commitment(
            answer=commitment.answer,
            assets=tuple(commitment.assets),
            at=now,
            actor=commitment.actor or commitment.party,
        )
        self._record(
            "commitment",
            now,
            commitment.actor or commitment.party,
            commitment.rationale,
            party=commitment.party,
            answer=str(commitment.answer),
            assets=list(commitment.assets),
            previous=None if previous is None else str(previous.answer),
        )
        self._track_quorum(now)

    def decide(self, decision: DecisionInput, now: datetime) -> None:
        self.check_decision(decision)
        payload: dict[str, Any] = {"action": str(decision.action)}
        if decision.action is Action.RECLASSIFY:
            payload.update({"from": self.kind, "to": decision.new_kind})
        self._record(str(decision.action), now, decision.actor, decision.rationale, **payload)
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
            "dispatched", now, SYSTEM, self.plan.step(step).title, step=step, channel=channel
        )

    def dispatch_failed(self, step: str, now: datetime, error: str) -> None:
        self._record("dispatch_failed", now, SYSTEM, error, step=step)

    def dispatch_cancelled(self, step: str, now: datetime) -> None:
        self._record(
            "dispatch_cancelled",
            now,
            SYSTEM,
            "The response was stood down before the step went out",
            step=step,
        )

    # -- internals --------------------------------------------------------------------------

    def _add_source(self, source: str) -> None:
        if source not in self.sources:
            self.sources.append(source)

    def _verify(self, now: datetime, rationale: str) -> None:
        self.verification = Verification.VERIFIED
        self._record("verified", now, SYSTEM, rationale, sources=list(self.sources))
        self._start_dispatch()

    def _start_dispatch(self) -> None:
        for step in self.steps_for_kind:
            if step not in self.dispatch_started:
                self.dispatch_started.append(step)
                self.dispatch_queue.append(step)

    def _track_quorum(self, now: datetime) -> None:
        holds = self.quorum
        if holds == self.quorum_reached:
            return
        self.quorum_reached = holds
        committed = sorted(p for p, c in self.commitments.items() if c.answer is Answer.COMMIT)
        if holds:
            self._record(
                "quorum_reached",
                now,
                SYSTEM,
                f"Committed: {', '.join(committed)}",
                committed=committed,
            )
        else:
            short, missing = quorum_missing(self.plan, self.commitments)
            self._record(
                "quorum_lost",
                now,
                SYSTEM,
                "A change of answer broke the quorum",
                committed=committed,
                short=short,
                missing_assets=list(missing),
            )

    def _close(self, outcome: Outcome, now: datetime, rationale: str, **payload: Any) -> None:
        self.outcome = outcome
        self.closed_at = now
        self._record(str(outcome), now, SYSTEM, rationale, outcome=str(outcome), **payload)

    def _record(
        self, kind: str, now: datetime, actor: str, rationale: str = "", /, **payload: Any
    ) -> Decision:
        decision = Decision(
            seq=len(self.decisions) + 1,
            kind=kind,
            at=now,
            t_plus_hours=self.clock.hours_since_t0(now),
            actor=actor,
            rationale=rationale,
            payload=payload,
        )
        self.decisions.append(decision)
        return decision

    # -- the view ---------------------------------------------------------------------------

    def deadline_views(self) -> tuple[DeadlineView, ...]:
        views = []
        for event in self.events:
            if event.deadline is None:
                continue
            name = event.deadline
            if name in self.results:
                status = DeadlineStatus.MET if self.results[name] else DeadlineStatus.MISSED
            elif not self._deadline_applies(name):
                status = DeadlineStatus.NOT_APPLICABLE
            elif self._deadline_met(name):
                status = DeadlineStatus.MET
            elif not self.is_open:
                status = DeadlineStatus.MOOT
            else:
                status = DeadlineStatus.PENDING
            views.append(
                DeadlineView(
                    name=name,
                    title=DEADLINE_TITLES[name],
                    due_at=self.clock.at(event.hours),
                    due_hours=event.hours,
                    status=status,
                )
            )
        return tuple(views)

    def view(self, persisted_seq: int = 0) -> IncidentView:
        report = self.input.report
        deadlines = self.deadline_views()
        pending = [d for d in deadlines if d.status is DeadlineStatus.PENDING]
        short, missing = quorum_missing(self.plan, self.commitments)
        return IncidentView(
            incident_id=self.input.incident_id,
            plan_id=self.plan.id,
            plan_version=self.plan.version,
            report_id=report.report_id,
            kind=self.kind,
            sector=report.sector,
            reported_by=report.reported_by,
            summary=report.summary,
            exercise=self.input.exercise,
            time_scale=self.input.time_scale,
            t0=self.clock.t0,
            reported_at=self.reported_at,
            window_closes_at=self.clock.at(self.plan.activation_window_hours),
            phase=self.phase(),
            awaiting=self.awaiting(),
            outcome=self.outcome,
            closed_at=self.closed_at,
            escalation_level=self.escalation_level,
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
            ),
            commitments=tuple(
                CommitmentView(party=p, answer=c.answer, assets=c.assets, at=c.at, actor=c.actor)
                for p, c in sorted(self.commitments.items())
            ),
            authorized_by=self.authorized_by,
            dispatched=tuple(self.dispatched),
            deadlines=deadlines,
            next_deadline=min(pending, key=lambda d: d.due_at, default=None),
            escalations=tuple(self.escalations),
            unmet_conditions=self.unmet if self.outcome is not None else self.unmet_conditions(),
            timeline=tuple(self.decisions),
            persisted_seq=persisted_seq,
        )
