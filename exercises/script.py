"""A scenario made concrete for one run: every time fixed, every answer drawn.

A single run takes the nominal values; a sweep draws each run's script from the run's seed,
one stream of draws per inject, so the same seed always yields the same scripts and two variants
of a scenario share their luck inject by inject.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from exercises.scenario import Inject, Scenario
from foundation.memo import last_by_identity
from workflows.incident_input import build_input
from workflows.messages import (
    AcknowledgeInput,
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    DeploymentInput,
    Evidence,
    EvidenceInput,
    IncidentInput,
    NoteInput,
    ViolationReport,
)
from workflows.notices import AwaitedAck
from workflows.state import Rejected


@dataclass(frozen=True)
class LevelAcknowledgement:
    """An acknowledgement of whatever notice awaits one at ``level`` when it arrives: a
    scenario cannot know the notice's id, which the incident mints as the ladder moves."""

    level: int
    actor: str


@dataclass(frozen=True)
class JoiningReport:
    """A report joining the exercise's response when it is sent: its id is the incident's
    report id with a suffix of its own, and it was observed ``observed_before`` plan hours
    before it goes out (the times are known only then)."""

    suffix: str
    kind: str
    sector: str
    reported_by: str
    summary: str
    observed_before: float
    evidence: tuple[Evidence, ...] = ()

    def report(self, opening_id: str, now: datetime, time_scale: float) -> ViolationReport:
        return ViolationReport(
            report_id=f"{opening_id}-{self.suffix}",
            kind=self.kind,
            sector=self.sector,
            reported_by=self.reported_by,
            summary=self.summary,
            observed_at=now - timedelta(hours=self.observed_before / time_scale),
            reported_at=now,
            evidence=self.evidence,
        )


@dataclass(frozen=True)
class MergingIncident:
    """An incident of its own for ``report``, opened when the inject goes out and merged into
    the exercise's response by ``actor`` at once (its id: the response's with a suffix)."""

    report: JoiningReport
    actor: str
    rationale: str

    def decision(self, into: str) -> DecisionInput:
        return DecisionInput(Action.MERGE, self.actor, self.rationale, into=into)


@dataclass(frozen=True)
class T0Correction:
    """A correct_t0 decision: T0 set ``t0_at`` plan hours from the exercise's start, known
    only once the exercise runs."""

    actor: str
    rationale: str
    t0_at: float

    def decision(self, started: datetime, time_scale: float) -> DecisionInput:
        observed = started + timedelta(hours=self.t0_at / time_scale)
        return DecisionInput(Action.CORRECT_T0, self.actor, self.rationale, observed_at=observed)


InjectInput = (
    EvidenceInput
    | CommitmentInput
    | DecisionInput
    | LevelAcknowledgement
    | NoteInput
    | DeploymentInput
    | JoiningReport
    | MergingIncident
    | T0Correction
)


def acknowledgement(
    inject: LevelAcknowledgement, awaiting: Iterable[AwaitedAck]
) -> AcknowledgeInput:
    """The acknowledgement ``inject`` makes of the notices ``awaiting`` one (the incident's,
    as the inject finds it); refused, as an update would be, when none awaits at its level."""
    awaited = next((a for a in awaiting if a.level == inject.level), None)
    if awaited is None:
        raise Rejected(
            f"level: no escalation notice to level {inject.level} awaits acknowledgement",
            field="level",
        )
    return AcknowledgeInput(notice_id=awaited.notice_id, actor=inject.actor, via="api")


# An inject scheduled at a mark goes out just before it. It counts as on time either way (the
# plan's deadlines are inclusive), but the time-skipping test server refuses a workflow task that
# accepts an update in the very instant a timer fires ("invalid history builder state"), and a
# live timer may beat an inject sent on the mark by a few milliseconds.
LEAD_HOURS = 1 / 3600  # time-skipping: a virtual second, below what a report shows


@dataclass(frozen=True)
class ScriptedInject:
    index: int  # position in the scenario file
    offset_hours: float  # after the exercise start (the report)
    kind: str  # evidence | commitment | decision | acknowledge | journal | deployment
    payload: InjectInput
    skipped: bool = False
    note: str = ""

    def describe(self) -> str:
        p = self.payload
        if isinstance(p, EvidenceInput):
            return f"evidence from {p.source}" + (f": {p.summary}" if p.summary else "")
        if isinstance(p, CommitmentInput):
            assets = f" ({', '.join(p.assets)})" if p.assets else ""
            return f"{p.party} {p.answer}s{assets}"
        if isinstance(p, LevelAcknowledgement):
            return f"level {p.level} acknowledged by {p.actor}"
        if isinstance(p, NoteInput):
            return f"{p.kind} by {p.actor}: {p.text}"
        if isinstance(p, DeploymentInput):
            return f"{p.party} {p.status} {', '.join(p.assets)}"
        if isinstance(p, JoiningReport):
            observed = f", observed {p.observed_before:g}h before" if p.observed_before else ""
            return f"report from {p.sector} by {p.reported_by} joins{observed}"
        if isinstance(p, MergingIncident):
            r = p.report
            observed = f", observed {r.observed_before:g}h before" if r.observed_before else ""
            return f"incident in {r.sector} by {r.reported_by}{observed} merged by {p.actor}"
        if isinstance(p, T0Correction):
            return f"T0 corrected to {p.t0_at:+g}h by {p.actor}"
        text = f"{p.action} by {p.actor}"
        if p.new_kind:
            text += f" → {p.new_kind}"
        return text


@dataclass(frozen=True)
class Script:
    observed_offset_hours: float  # <= 0: T0 relative to the exercise start
    injects: tuple[ScriptedInject, ...]
    # What was drawn, by parameter (``commitment:uk.answer``, ``evidence:isr.at``): empty for
    # a nominal script.
    drawn: dict[str, float | str | bool] = field(default_factory=dict)

    def sent_at_hours(self) -> list[float]:
        """When each inject goes out, in hours after the exercise start, as the runner's clock
        sends it: ``LEAD_HOURS`` before its time, never before the one before it."""
        at, times = 0.0, []
        for inject in self.injects:
            at = max(at, inject.offset_hours - LEAD_HOURS)
            times.append(at)
        return times

    @property
    def lead_hours(self) -> float:
        """Hours from T0 to the exercise start (the report)."""
        return -self.observed_offset_hours


def inject_keys(scenario: Scenario) -> list[str]:
    """One key per inject, in file order: its own ``key``, else its kind and who sends it
    (``commitment:uk``, ``evidence:allied-isr``, ``decision:authorize``), numbered from the
    second of the same (``decision:authorize#2``). Two variants of a scenario pair their injects
    by these keys, so an inject added to one variant leaves the other injects' draws alone."""
    taken = {i.key for i in scenario.injects if i.key is not None}
    seen: dict[str, int] = {}
    keys = []
    for inject in scenario.injects:
        if inject.key is not None:
            keys.append(inject.key)
            continue
        if inject.commitment is not None:
            base = f"commitment:{inject.commitment.party}"
        elif inject.evidence is not None:
            base = f"evidence:{inject.evidence.source}"
        elif inject.acknowledge is not None:
            base = f"acknowledge:level-{inject.acknowledge.level}"
        elif inject.journal is not None:
            base = f"journal:{inject.journal.actor}"
        elif inject.deployment is not None:
            base = f"deployment:{inject.deployment.party}"
        elif inject.join is not None:
            base = f"join:{inject.join.sector}"
        elif inject.merge is not None:
            base = f"merge:{inject.merge.sector}"
        else:
            assert inject.decision is not None
            base = f"decision:{inject.decision.action}"
        key = base
        while key in taken:
            seen[base] = seen.get(base, 1) + 1
            key = f"{base}#{seen[base]}"
        taken.add(key)
        keys.append(key)
    return keys


VIOLATION_KEY = "violation"


class _Draws:
    """A run's uniform draws, one stream per key: ``u(key)`` gives the next draw of ``key``.

    Common random numbers: every key's stream depends only on the run's seed and the key, and
    each inject always takes the same draws in the same order (its time, then whether it is
    skipped, then whether its party declines), used or not. The same run of two variants then
    sees the same luck for every inject they share.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._taken: dict[str, int] = {}

    def u(self, key: str) -> float:
        n = self._taken.get(key, 0)
        self._taken[key] = n + 1
        # A keyed hash, the same in every process and on every machine; a tenth of the cost of
        # seeding a random.Random per inject, which was a tenth of a fast run.
        digest = hashlib.blake2b(f"{self._seed}/{key}/{n}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64


def _payload(inject: Inject, decline: bool, index: int, violation_kind: str) -> InjectInput:
    if inject.evidence is not None:
        e = inject.evidence
        return EvidenceInput(source=e.source, summary=e.summary, actor=e.actor)
    if inject.commitment is not None:
        c = inject.commitment
        answer, assets = c.answer, tuple(c.assets)
        if decline:
            answer, assets = Answer.DECLINE, ()
        return CommitmentInput(
            party=c.party, answer=answer, assets=assets, actor=c.actor, rationale=c.rationale
        )
    if inject.acknowledge is not None:
        return LevelAcknowledgement(level=inject.acknowledge.level, actor=inject.acknowledge.actor)
    if inject.journal is not None:
        j = inject.journal
        return NoteInput(text=j.text, actor=j.actor, kind=j.kind)
    for j, suffix in ((inject.join, f"join-{index}"), (inject.merge, f"merged-{index}")):
        if j is None:
            continue
        joining = JoiningReport(
            suffix=suffix,
            kind=j.kind or violation_kind,
            sector=j.sector,
            reported_by=j.reported_by,
            summary=j.summary,
            observed_before=j.observed_before,
            evidence=tuple(Evidence(e.source, e.summary) for e in j.evidence),
        )
        if inject.merge is None:
            return joining
        return MergingIncident(joining, inject.merge.actor, inject.merge.rationale)
    if inject.deployment is not None:
        r = inject.deployment
        return DeploymentInput(
            party=r.party,
            status=r.status,
            assets=tuple(r.assets),
            actor=r.actor or f"ally:{r.party}",
            rationale=r.rationale,
        )
    d = inject.decision
    assert d is not None
    if d.action is Action.CORRECT_T0:
        assert d.t0_at is not None  # the scenario's validation requires it
        return T0Correction(d.actor, d.rationale, d.t0_at)
    return DecisionInput(action=d.action, actor=d.actor, rationale=d.rationale, new_kind=d.new_kind)


@dataclass(frozen=True)
class _Prepared:
    """What every run of a scenario shares, inject by inject: its key, its kind and its payload
    as sent (index 0) or declined (index 1). Payloads are frozen, so runs can share them."""

    keys: tuple[str, ...]
    kinds: tuple[str, ...]
    payloads: tuple[tuple[InjectInput, InjectInput], ...]


@last_by_identity
def _prepare(scenario: Scenario) -> _Prepared:
    kind = scenario.violation.kind
    return _Prepared(
        keys=tuple(inject_keys(scenario)),
        kinds=tuple(i.kind for i in scenario.injects),
        payloads=tuple(
            (_payload(i, False, n, kind), _payload(i, True, n, kind))
            for n, i in enumerate(scenario.injects)
        ),
    )


def build_script(scenario: Scenario, seed: int | None = None) -> Script:
    """Nominal values without ``seed``; with it, a draw from every distribution, keyed by
    inject (see :class:`_Draws`). ``drawn`` holds the values drawn for what is random."""
    prepared = _prepare(scenario)
    draws = None if seed is None else _Draws(seed)
    drawn: dict[str, float | str | bool] = {}
    observed = scenario.violation.observed_at
    if draws is None:
        observed_offset = min(0.0, observed.nominal)
    else:
        observed_offset = min(0.0, observed.quantile(draws.u(VIOLATION_KEY)))
        if observed.is_random:
            drawn[f"{VIOLATION_KEY}.observed_at"] = observed_offset
    injects = []
    for index, (inject, key) in enumerate(zip(scenario.injects, prepared.keys, strict=True)):
        if draws is None:
            offset, skipped, decline = max(0.0, inject.at.nominal), False, False
        else:
            offset = max(0.0, inject.at.quantile(draws.u(key)))
            skipped = draws.u(key) < inject.p_skip
            p_decline = inject.commitment.p_decline if inject.commitment is not None else 0.0
            decline = draws.u(key) < p_decline
            if inject.at.is_random:
                drawn[f"{key}.at"] = offset
            if inject.p_skip > 0:
                drawn[f"{key}.skipped"] = skipped
            if p_decline > 0:
                drawn[f"{key}.answer"] = str(Answer.DECLINE if decline else Answer.COMMIT)
        injects.append(
            ScriptedInject(
                index=index,
                offset_hours=offset,
                kind=prepared.kinds[index],
                payload=prepared.payloads[index][decline],
                skipped=skipped,
                note=inject.note,
            )
        )
    # Stable: injects at the same time go in file order.
    return Script(
        observed_offset, tuple(sorted(injects, key=lambda i: i.offset_hours)), drawn=drawn
    )


def exercise_incident(
    scenario: Scenario, script: Script, now: datetime, report_id: str, *, time_scale: float = 1.0
) -> IncidentInput:
    """The incident an exercise of ``script`` opens at ``now`` (the report reaching the cell),
    exactly as the API would open it, flagged as an exercise."""
    violation = scenario.violation
    # A compressed clock compresses the report's lateness too.
    t0 = now + timedelta(hours=script.observed_offset_hours / time_scale)
    report = ViolationReport(
        report_id=report_id,
        kind=violation.kind,
        sector=violation.sector,
        reported_by=violation.reported_by,
        summary=violation.summary or scenario.name,
        observed_at=t0,
        reported_at=now,
        evidence=tuple(Evidence(source=e.source, summary=e.summary) for e in violation.evidence),
    )
    return build_input(report, scenario.plan_data, exercise=True, time_scale=time_scale)
