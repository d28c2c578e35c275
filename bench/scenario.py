"""The 72-hour scenario every Temporal benchmark drives: what people submit, and when.

A large-scale offensive reported by one source: the extra evidence comes from the same source,
so verification lapses at T0+12h and the plan proceeds on presumption until the duty officer
confirms; twelve guarantor parties answer, four change their answer (the quorum is lost and
regained); the military authorization comes after its T0+60h deadline, two hours before the
window closes. Every phase, every deadline timer and escalation, 24 updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from plans.loader import get_plan
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    EvidenceInput,
    IncidentInput,
    ViolationReport,
)
from workflows.starting import build_input

Kind = Literal["evidence", "commitment", "decision"]
REPORTER = "observer-mission"


@dataclass(frozen=True)
class Step:
    at_hours: float  # plan hours after T0
    kind: Kind
    payload: EvidenceInput | CommitmentInput | DecisionInput


def _commit(at: float, party: str, *assets: str) -> Step:
    return Step(
        at,
        "commitment",
        CommitmentInput(party=party, answer=Answer.COMMIT, assets=assets, actor=f"{party}-liaison"),
    )


def _decline(at: float, party: str) -> Step:
    return Step(
        at,
        "commitment",
        CommitmentInput(party=party, answer=Answer.DECLINE, actor=f"{party}-liaison"),
    )


STEPS: tuple[Step, ...] = (
    Step(1, "evidence", EvidenceInput(source=REPORTER, summary="drone footage of armour crossing")),
    Step(3, "evidence", EvidenceInput(source=REPORTER, summary="second sighting, same observers")),
    Step(
        13,
        "decision",
        DecisionInput(
            action=Action.CONFIRM, actor="duty-officer", rationale="corroborated by radar"
        ),
    ),
    _commit(14, "us", "air", "ground"),
    _decline(15, "uk"),
    _commit(16, "fr", "naval"),
    _decline(17, "de"),
    _commit(18, "pl", "ground"),  # quorum: us, fr, pl with air
    _decline(19, "us"),  # quorum lost: nobody offers air
    _commit(20, "ca", "air"),  # quorum regained
    _decline(21, "nl"),
    _commit(22, "it", "naval"),
    _decline(23, "se"),
    _decline(26, "fi"),
    _commit(28, "no", "naval"),
    _decline(30, "dk"),
    _commit(31, "uk", "air"),
    _commit(33, "de", "ground"),
    _commit(36, "us", "air"),
    _commit(38, "se", "air"),
    _commit(39, "fi", "ground"),
    Step(40, "evidence", EvidenceInput(source="allied-isr", summary="imagery confirms")),
    Step(44, "evidence", EvidenceInput(source="satellite", summary="columns still advancing")),
    Step(
        70,
        "decision",
        DecisionInput(action=Action.AUTHORIZE, actor="commander", rationale="quorum holds"),
    ),
    # Activated, the response stays open (the plan's after_activation section): the cell ends it.
    Step(
        71,
        "decision",
        DecisionInput(action=Action.TERMINATE, actor="commander", rationale="forces stand down"),
    ),
)


def report(n: int, observed_at: datetime | None = None) -> ViolationReport:
    return ViolationReport(
        report_id=f"bench-{n}",
        kind="large_scale_offensive",
        sector=f"sector-{n % 17}",
        reported_by=REPORTER,
        summary="armoured columns crossing the line of contact",
        observed_at=observed_at,
    )


def incident(
    n: int, *, time_scale: float = 1.0, observed_at: datetime | None = None, exercise: bool = True
) -> IncidentInput:
    return build_input(
        report(n, observed_at), get_plan("allied-72h"), exercise=exercise, time_scale=time_scale
    )
