"""Bad updates are refused before anything reaches history, and the incident carries on."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from tests.workflows.support import assert_ledger_matches, start_drill
from workflows.incident import IncidentWorkflow
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    EvidenceInput,
    Outcome,
)

REJECTIONS = [
    (IncidentWorkflow.submit_commitment, CommitmentInput(party="xx", answer=Answer.COMMIT, assets=("air",)), "party: 'xx' is not a guarantor party"),
    (IncidentWorkflow.submit_commitment, CommitmentInput(party="uk", answer=Answer.COMMIT, assets=("lasers",)), "assets: unknown ['lasers']"),
    (IncidentWorkflow.submit_decision, DecisionInput(action=Action.AUTHORIZE, actor="op", rationale="now"), "action: authorization needs the allied quorum first"),
    (IncidentWorkflow.submit_decision, DecisionInput(action=Action.RECLASSIFY, actor="op", rationale="x", new_kind="war"), "new_kind: 'war' is not a kind"),
    (IncidentWorkflow.submit_decision, DecisionInput(action=Action.STAND_DOWN, actor="op", rationale=""), "rationale: an operator decision must give its rationale"),
    (IncidentWorkflow.submit_evidence, EvidenceInput(source=""), "source: must name who provides the evidence"),
]  # fmt: skip


async def accepted_updates(handle) -> int:
    history = await handle.fetch_history()
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def test_bad_updates_are_rejected_and_the_workflow_carries_on(
    ts_env, run_worker, sessions, task_queue
):
    async with run_worker(ts_env.client):
        drill = await start_drill(ts_env, task_queue, "large_scale_offensive")
        await drill.at(3)
        before = await drill.view()
        for update, arg, message in REJECTIONS:
            with pytest.raises(WorkflowUpdateFailedError) as rejected:
                await drill.handle.execute_update(update, arg)
            assert message in str(rejected.value.cause), rejected.value.cause
        after = await drill.view()
        assert after.timeline == before.timeline
        assert await accepted_updates(drill.handle) == 0

        await drill.evidence("allied-isr")
        for party in ("us", "uk", "fr"):
            await drill.commit(party, "air")
        await drill.decide(Action.AUTHORIZE)
        view = await drill.result()
        assert await accepted_updates(drill.handle) == 6  # the five, and the drill's terminate

        # Once the incident has ended, nothing more is accepted (the server refuses updates to a
        # closed workflow; the validator would refuse them too, see test_state).
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await drill.evidence("too-late")

    assert view.outcome is Outcome.ACTIVATED
    history = await drill.handle.fetch_history()
    assert not [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]
    await assert_ledger_matches(sessions, view)
