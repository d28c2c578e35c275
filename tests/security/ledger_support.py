"""An incident's ledger written by the real ledger activity, from decisions of the pure plan logic."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from temporalio.testing import ActivityEnvironment

from activities.ledger import LedgerActivities
from foundation.ids import workflow_id_for
from plans.loader import get_plan
from workflows.activity_inputs import RecordDecisionsInput
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    Decision,
    DecisionInput,
    Evidence,
    IncidentSnapshot,
    ViolationReport,
)
from workflows.starting import build_input
from workflows.state import IncidentState


@dataclass(frozen=True)
class WrittenLedger:
    incident_id: str
    workflow_id: str
    decisions: tuple[Decision, ...]
    outcome: str


def activated_incident() -> tuple[IncidentState, str]:
    """A full activation through the pure state machine: 12 decisions."""
    t0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    report = ViolationReport(
        report_id=f"tamper-{uuid.uuid4().hex}",
        kind="large_scale_offensive",
        sector="zaporizhzhia",
        reported_by="ua-general-staff",
        observed_at=t0,
        reported_at=t0,
        evidence=(Evidence("allied-isr", "imagery"),),
    )
    incident = build_input(report, get_plan())
    state = IncidentState(incident, t0)
    for step in state.dispatch_queue:
        state.dispatch_succeeded(step, t0 + timedelta(minutes=5), "log")
    state.dispatch_queue.clear()
    for hours, party, assets in ((3, "uk", ("air",)), (4, "pl", ("ground",)), (5, "fr", ("air",))):
        state.add_commitment(
            CommitmentInput(party, Answer.COMMIT, assets, f"ally:{party}"),
            t0 + timedelta(hours=hours),
        )
    state.decide(
        DecisionInput(Action.AUTHORIZE, "nac-chair", "quorum reached"), t0 + timedelta(hours=6)
    )
    state.advance(t0 + timedelta(hours=6))
    assert state.outcome is not None
    return state, incident.incident_id


def snapshot(state: IncidentState) -> IncidentSnapshot:
    return replace(state.snapshot(), run_id="run-1")


async def write_ledger(ledger: LedgerActivities) -> WrittenLedger:
    state, incident_id = activated_incident()
    decisions = tuple(state.decisions)
    snap = snapshot(state)
    # In three batches, as the workflow would over time.
    for batch in (decisions[:4], decisions[4:9], decisions[9:]):
        await ActivityEnvironment().run(ledger.record_decisions, RecordDecisionsInput(snap, batch))
    return WrittenLedger(incident_id, workflow_id_for(incident_id), decisions, str(state.outcome))
