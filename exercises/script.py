"""A scenario made concrete for one run: every time fixed, every answer drawn.

A single run takes the nominal values; a sweep draws each run's script from its own seeded
``random.Random``, so the same seed always yields the same scripts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from exercises.scenario import Inject, Scenario
from workflows.messages import Answer, CommitmentInput, DecisionInput, EvidenceInput

InjectInput = EvidenceInput | CommitmentInput | DecisionInput


@dataclass(frozen=True)
class ScriptedInject:
    index: int  # position in the scenario file
    offset_hours: float  # after the exercise start (the report)
    kind: str  # evidence | commitment | decision
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
        text = f"{p.action} by {p.actor}"
        if p.new_kind:
            text += f" → {p.new_kind}"
        return text


@dataclass(frozen=True)
class Script:
    observed_offset_hours: float  # <= 0: T0 relative to the exercise start
    injects: tuple[ScriptedInject, ...]

    @property
    def lead_hours(self) -> float:
        """Hours from T0 to the exercise start (the report)."""
        return -self.observed_offset_hours


def _payload(inject: Inject, rng: random.Random | None) -> InjectInput:
    if inject.evidence is not None:
        e = inject.evidence
        return EvidenceInput(source=e.source, summary=e.summary, actor=e.actor)
    if inject.commitment is not None:
        c = inject.commitment
        answer, assets = c.answer, tuple(c.assets)
        if rng is not None and c.p_decline > 0 and rng.random() < c.p_decline:
            answer, assets = Answer.DECLINE, ()
        return CommitmentInput(
            party=c.party, answer=answer, assets=assets, actor=c.actor, rationale=c.rationale
        )
    d = inject.decision
    assert d is not None
    return DecisionInput(action=d.action, actor=d.actor, rationale=d.rationale, new_kind=d.new_kind)


def build_script(scenario: Scenario, rng: random.Random | None = None) -> Script:
    """Nominal values without ``rng``; a draw from every distribution with it.

    Draws happen in file order, whatever the outcome, so one changed probability does not
    shift every later draw.
    """
    observed = scenario.violation.observed_at
    observed_offset = min(0.0, observed.sample(rng) if rng is not None else observed.nominal)
    injects = []
    for index, inject in enumerate(scenario.injects):
        offset = max(0.0, inject.at.sample(rng) if rng is not None else inject.at.nominal)
        skip_draw = rng.random() if rng is not None else 1.0
        injects.append(
            ScriptedInject(
                index=index,
                offset_hours=offset,
                kind=inject.kind,
                payload=_payload(inject, rng),
                skipped=skip_draw < inject.p_skip,
                note=inject.note,
            )
        )
    # Stable: injects at the same time go in file order.
    return Script(observed_offset, tuple(sorted(injects, key=lambda i: i.offset_hours)))
