"""The 20 incidents of a fault test: what is reported, what follows through the API, and the
outcome the same inputs give without any fault (from the pure plan logic).

Six kinds of script cover every outcome of the allied plan. Their inputs all fall early in the
plan (before T0+10h), and each outcome depends on which inputs arrive before the window closes,
not on when: a fault that delays inputs by many plan hours still leaves the outcome the plan
gives. The only timing the test itself imposes is that they land before T0+72h.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from plans.loader import get_plan
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    Evidence,
    EvidenceInput,
    IncidentInput,
    ViolationReport,
)
from workflows.state import IncidentState

REPORTER, OPERATOR = "fault-reporter", "fault-operator"
ALLIES = ("uk", "pl", "fr", "de", "us", "ca")


def ally(party: str) -> str:
    return f"fault-ally-{party}"


@dataclass(frozen=True)
class Input:
    hours: float  # plan hours after the report
    path: str  # evidence | commitments | decisions
    body: dict[str, Any]
    role: str  # reporter | operator | ally:<party>

    def marker(self) -> tuple[str, str, str]:
        """How the ledger shows it: (kind, actor, what) -- unique within one incident."""
        if self.path == "evidence":
            return ("evidence_accepted", REPORTER, self.body["source"])
        if self.path == "commitments":
            party = self.role.removeprefix("ally:")
            return ("commitment", ally(party), party)
        return (self.body["action"], OPERATOR, "")


@dataclass(frozen=True)
class Script:
    name: str
    report: dict[str, Any]
    inputs: tuple[Input, ...]
    expected_outcome: str
    expected_inputs: Counter[tuple[str, str, str]]


def _commit(hours: float, party: str, *assets: str) -> Input:
    return Input(
        hours,
        "commitments",
        {"answer": "commit", "assets": list(assets), "rationale": "ready"},
        f"ally:{party}",
    )


def _decline(hours: float, party: str) -> Input:
    return Input(
        hours,
        "commitments",
        {"answer": "decline", "assets": [], "rationale": "not now"},
        f"ally:{party}",
    )


def _decide(hours: float, action: str, rationale: str) -> Input:
    return Input(hours, "decisions", {"action": action, "rationale": rationale}, "operator")


TEMPLATES: dict[str, tuple[str, tuple[str, ...], tuple[Input, ...]]] = {
    # name: (kind, evidence sources in the report, inputs through the API)
    "activate": ("large_scale_offensive", ("allied-isr",), (
        _commit(1, "uk", "air", "naval"), _commit(2, "pl", "ground"), _commit(3, "fr", "air"),
        _decide(4, "authorize", "quorum reached; NAC concurs"),
        # Activated, the response stays open until the cell ends it.
        _decide(5, "terminate", "forces stand down"),
    )),
    "stand-down": ("large_scale_offensive", ("allied-isr",), (
        _commit(1, "uk", "air"), _decide(3, "stand_down", "columns withdrew; OSCE confirms"),
    )),
    "no-quorum": ("large_scale_offensive", ("allied-isr",), (
        _commit(1, "pl", "ground"), _commit(2, "de", "naval"), _decline(3, "us"),
    )),
    "diplomatic": ("ceasefire_breach", ("osce-smm",), (
        Input(2, "evidence", {"source": "sentinel-2", "summary": "craters along the line"}, "reporter"),
    )),
    "unverified": ("ceasefire_breach", (), ()),
    "limited": ("limited_incursion", ("allied-isr",), (
        _commit(1, "uk", "air"), _commit(2, "fr", "naval"), _commit(3, "ca", "ground"),
    )),
}  # fmt: skip


def build_scripts(seed: int, count: int = 20, tag: str = "") -> list[Script]:
    """``count`` incidents cycling through every template, shuffled and jittered by ``seed``."""
    rng = random.Random(seed)
    names = [list(TEMPLATES)[i % len(TEMPLATES)] for i in range(count)]
    rng.shuffle(names)
    scripts = []
    for index, name in enumerate(names):
        kind, sources, inputs = TEMPLATES[name]
        jitter = rng.uniform(0, 1.5)
        moved = tuple(Input(round(i.hours + jitter, 2), i.path, i.body, i.role) for i in inputs)
        report = {
            "report_id": f"fault-{tag}-{seed}-{index:02d}-{name}",
            "kind": kind,
            "sector": f"sector-{index:02d}",
            "reported_by": "ua-general-staff",
            "summary": f"{name} script {index}",
            "evidence": [{"source": s, "summary": "seen"} for s in sources],
        }
        outcome, markers = expected(report, moved)
        scripts.append(Script(name, report, moved, outcome, markers))
    return scripts


def expected(
    report: dict[str, Any], inputs: tuple[Input, ...]
) -> tuple[str, Counter[tuple[str, str, str]]]:
    """The outcome and the human decisions of a fault-free run, from the pure state machine."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    incident = IncidentInput(
        incident_id=report["report_id"],
        report=ViolationReport(
            report_id=report["report_id"], kind=report["kind"], sector=report["sector"],
            reported_by=report["reported_by"], observed_at=start, reported_at=start,
            evidence=tuple(Evidence(e["source"], e["summary"]) for e in report["evidence"]),
        ),
        plan=get_plan(),
    )  # fmt: skip
    state = IncidentState(incident, start)
    for item in inputs:
        now = start + timedelta(hours=item.hours)
        _advance(state, now)
        for step in state.dispatch_queue:
            state.dispatch_succeeded(step, now, "webhook")
        state.dispatch_queue.clear()
        if item.path == "evidence":
            state.add_evidence(
                EvidenceInput(item.body["source"], item.body["summary"], REPORTER), now
            )
        elif item.path == "commitments":
            party = item.role.removeprefix("ally:")
            state.add_commitment(
                CommitmentInput(
                    party, Answer(item.body["answer"]), tuple(item.body["assets"]), ally(party)
                ),
                now,
            )
        else:
            state.decide(
                DecisionInput(Action(item.body["action"]), OPERATOR, item.body["rationale"]), now
            )
        state.advance(now)
    _advance(state, start + timedelta(hours=100))
    assert state.outcome is not None
    return str(state.outcome), Counter(i.marker() for i in inputs)


def _advance(state: IncidentState, moment: datetime) -> None:
    while (due := state.next_event_at()) is not None and due <= moment:
        state.advance(due)
    state.advance(moment)
