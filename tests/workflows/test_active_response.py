"""An active response on the time-skipping server, with its ledger on SQLite and PostgreSQL: it
stays open after activation, a withdrawal breaks its quorum, a review is missed, an operator
terminates it; and a 30-day response with 1,000 inputs keeps its history bounded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from db.audit import audited_ledger, find_incident
from db.chain import verify_chain
from db.repository import IncidentRepository
from exercises.histories import replayer
from foundation.ids import workflow_id_for
from tests.workflows.support import assert_ledger_matches, kinds, ledger_rows, start_drill
from tests.workflows.test_continue_as_new import runs_of
from workflows.incident import IncidentWorkflow
from workflows.limits import RunLimits
from workflows.messages import (
    AcknowledgeInput,
    Action,
    DeploymentInput,
    DeploymentStatus,
    NoteInput,
    Outcome,
    Phase,
)
from workflows.updating import execute_update

WEEK = 168


async def activate(drill) -> None:
    """Verified at T0+2h, three parties committed at T0+10h, authorized at T0+30h."""
    await drill.at(2)
    await drill.evidence("allied-isr", "armoured columns crossing the line")
    await drill.at(10)
    await drill.commit("uk", "air")
    await drill.commit("pl", "ground")
    await drill.commit("us", "air", "naval")
    await drill.at(30)
    receipt = await drill.decide(Action.AUTHORIZE, "quorum reached; NAC concurs")
    assert receipt.outcome is Outcome.ACTIVATED and receipt.phase is Phase.ACTIVE


async def report(drill, party: str, status: DeploymentStatus, *assets: str):
    return await execute_update(
        drill.handle,
        IncidentWorkflow.report_deployment,
        DeploymentInput(party=party, status=status, assets=assets, actor=f"ally:{party}"),
    )


async def test_an_active_response_lives_on_until_terminated(
    ts_env, run_worker, sessions, task_queue, exercise_sink
):
    async with run_worker(ts_env.client):
        drill = await start_drill(ts_env, task_queue, "large_scale_offensive")
        await activate(drill)
        await drill.at(31)
        active = await drill.view()
        async with sessions() as session:
            row = await IncidentRepository(session).get(active.incident_id)
            listed = await IncidentRepository(session).open_incidents(exercise=False, limit=500)
        assert row is not None and (row.phase, row.outcome) == ("active", "activated")
        assert row.activated_at == active.activated_at and row.closed_at is None
        assert active.incident_id in {r.id for r in listed}  # still on the board

        await drill.at(40)
        await report(drill, "us", DeploymentStatus.DEPLOYED, "air", "naval")
        await drill.at(50)
        receipt = await report(drill, "uk", DeploymentStatus.WITHDRAWN, "air")
        assert receipt.decisions == ("withdrawn", "quorum_lost", "escalated")
        assert receipt.escalation_level == 3
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await report(drill, "uk", DeploymentStatus.WITHDRAWN, "air")
        assert "already withdrawn" in str(refused.value.cause)
        for awaited in (await drill.view()).awaiting_ack:  # heads of government answer the page
            await execute_update(
                drill.handle,
                IncidentWorkflow.acknowledge,
                AcknowledgeInput(notice_id=awaited.notice_id, actor="pm-office", via="api"),
            )

        await drill.at(30 + WEEK + 1)  # the weekly review nobody held
        missed = await drill.view()
        assert missed.reviews_missed == 1 and missed.force_holds is False
        await drill.commit("fr", "air")  # a replacement restores the quorum
        await drill.decide(Action.REVIEW, "forces in place; fr replaces uk")
        await drill.at(30 + WEEK + 5)
        receipt = await drill.decide(Action.TERMINATE, "ceasefire restored; forces stand down")
        assert receipt.outcome is Outcome.ACTIVATED and receipt.phase is Phase.CLOSED
        view = await drill.handle.result()

    assert view.outcome is Outcome.ACTIVATED and view.phase is Phase.CLOSED
    assert view.activated_at is not None and view.closed_at is not None
    assert round((view.activated_at - view.t0) / timedelta(hours=1)) == 30
    assert round((view.closed_at - view.t0) / timedelta(hours=1)) == 30 + WEEK + 5
    assert view.termination_rationale == (
        "Terminated by duty-officer: ceasefire restored; forces stand down"
    )
    rows = await assert_ledger_matches(sessions, view)
    decided = kinds(rows)
    assert decided[decided.index("activated") :] == [
        "activated",
        "deployed",
        "withdrawn",
        "quorum_lost",
        "escalated",
        "lapsed",
        "escalated",
        "commitment",
        "quorum_reached",
        "review",
        "terminate",  # the operator's decision, then the close it leads to
        "terminated",
    ]
    told = [r.payload.get("notice_kind") for r in rows if r.kind == "notified"]
    assert "call_for_replacement" in told and told[-1] == "close"
    assert told.count("activation_order") == 2  # the three at activation, then fr alone
    incident = await find_incident(sessions, view.incident_id)
    assert incident is not None and incident.closed_at == view.closed_at
    assert incident.termination_rationale == view.termination_rationale
    assert (incident.phase, incident.outcome) == ("closed", "activated")
    audit, _ = await audited_ledger(sessions, incident, ts_env.client)
    assert audit.intact and audit.checked_against_workflow, audit


async def test_a_thirty_day_response_with_a_thousand_inputs_continues_as_new(
    ts_env, run_worker, sessions, task_queue
):
    async with run_worker(ts_env.client):
        drill = await start_drill(
            ts_env, task_queue, "large_scale_offensive", limits=RunLimits(updates=150)
        )
        await activate(drill)
        inputs = 0
        for day in range(2, 31):
            await drill.at(day * 24)
            if day % 6 == 1 and day > 1:  # days 7, 13, 19, 25: before each falls due
                await drill.decide(Action.REVIEW, f"day {day}: forces in place")
                inputs += 1
            for i in range(35):
                if i == 0:
                    status = DeploymentStatus.WITHDRAWN if day % 2 else DeploymentStatus.DEPLOYED
                    await report(drill, "us", status, "naval")
                else:
                    await execute_update(
                        drill.handle,
                        IncidentWorkflow.add_note,
                        NoteInput(text=f"day {day}, entry {i}: sector quiet", actor="cell"),
                    )
                inputs += 1
        during = await drill.view()
        receipt = await drill.decide(Action.TERMINATE, "thirty days on: the mission ends")
        view = await drill.handle.result()

    assert inputs >= 1000
    assert during.phase is Phase.ACTIVE and receipt.phase is Phase.CLOSED
    assert view.run >= 6, view.run
    assert view.reviews_missed == 0 and view.escalation_level == 1
    rows = await ledger_rows(sessions, view.incident_id)
    assert [r.seq for r in rows] == list(range(1, view.decisions_total + 1))
    assert verify_chain(workflow_id_for(view.incident_id), rows) is None
    assert [r.kind for r in rows].count("note") == 29 * 34
    incident = await find_incident(sessions, view.incident_id)
    audit, _ = await audited_ledger(sessions, incident, ts_env.client)
    assert audit.intact and audit.checked_against_workflow, audit
    histories = await runs_of(ts_env.client, drill.handle.id)
    assert len(histories) == view.run
    for history in histories:
        assert len(history.events) < 2_000
        await replayer().replay_workflow(history)
