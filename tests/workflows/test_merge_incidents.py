"""Merging one open incident into another, on the time-skipping server with the ledger on
SQLite and PostgreSQL: the handover through an activity, the absorbed incident closed
``merged`` and linked both ways, T0 moved to the earlier violation with the past deadlines
fired at once, the steps sent once for both, and both ledgers verifiable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from db.audit import audited_ledger, find_incident
from tests.workflows.support import assert_ledger_matches, kinds, ledger_rows, start_drill
from workflows.messages import Action, Outcome, Phase, Verification
from workflows.names import REFUSAL_ERROR


async def test_an_earlier_incident_merged_in_fires_past_deadlines_and_sends_each_step_once(
    ts_env, run_worker, sessions, task_queue, exercise_sink
):
    async with run_worker(ts_env.client):
        survivor = await start_drill(ts_env, task_queue, "large_scale_offensive")
        await survivor.at(1)
        # Reported now, observed 15 h ago: 14 h before the survivor's T0.
        absorbed = await start_drill(
            ts_env, task_queue, "large_scale_offensive", observed_hours_before_report=15
        )
        await absorbed.evidence("osint-geolocated")  # verified there: its steps go out there
        await survivor.at(2)
        before = await survivor.view()
        receipt = await absorbed.decide(
            Action.MERGE, "one offensive", into=survivor.handle.id.removeprefix("incident-")
        )
        merged = await absorbed.handle.result()
        after = await survivor.view()
        for party, assets in (("uk", ("air",)), ("pl", ("ground",)), ("us", ("air",))):
            await survivor.commit(party, *assets)
        await survivor.decide(Action.AUTHORIZE, "quorum reached")
        final = await survivor.result()

    assert before.verification is Verification.PENDING and before.escalation_level == 1
    assert receipt.outcome is Outcome.MERGED and receipt.decisions[-1] == "merged"
    assert merged.outcome is Outcome.MERGED and merged.merged_into == after.incident_id
    assert after.merged_from == (merged.incident_id,) and after.reports == 2
    # T0 is the absorbed incident's: 14 h earlier. Verification (due T0+12h, now 2 h past)
    # fell due at once and was judged knowing the merge: verified late, not presumed.
    assert after.t0 == merged.t0 == absorbed.t0
    assert timedelta(hours=13.9) < before.t0 - after.t0 < timedelta(hours=14)
    assert after.verification is Verification.VERIFIED
    statuses = {d.name: d.status for d in after.deadlines}
    assert statuses["verification"] == "missed"
    absorbed_at = kinds(after).index("absorbed")
    assert kinds(after)[absorbed_at + 1] == "lapsed"
    assert final.outcome is Outcome.ACTIVATED
    # One voice outward: the absorbed incident sent the steps; the survivor sent none again.
    assert sorted(m.step for m in exercise_sink.sent) == [
        "demarche",
        "sanctions_snapback",
        "unsc_session",
    ]
    # Both ledgers hold the merge, each chain verifies, the rows link both ways.
    absorbed_rows = await assert_ledger_matches(sessions, merged)
    assert kinds(absorbed_rows)[-2:] == ["merge", "merged"]
    merge_row = next(r for r in absorbed_rows if r.kind == "merge")
    assert merge_row.payload["into"] == final.incident_id
    survivor_rows = await ledger_rows(sessions, final.incident_id)
    taken = next(r for r in survivor_rows if r.kind == "absorbed")
    assert taken.payload["incident"] == merged.incident_id
    assert taken.payload["t0_moved_from"] == before.t0.isoformat()
    assert set(taken.payload["steps_sent"]) == {"demarche", "unsc_session", "sanctions_snapback"}
    for incident_id in (merged.incident_id, final.incident_id):
        row = await find_incident(sessions, incident_id)
        assert row is not None
        audit, _ = await audited_ledger(sessions, row, ts_env.client)
        assert audit.intact and audit.checked_against_workflow, audit
    row = await find_incident(sessions, merged.incident_id)
    assert row is not None and row.merged_into == final.incident_id and row.outcome == "merged"


async def test_a_merge_the_absorbing_incident_refuses_leaves_both_open(
    ts_env, run_worker, sessions, task_queue
):
    from temporalio.client import WorkflowUpdateFailedError

    async with run_worker(ts_env.client):
        closed = await start_drill(ts_env, task_queue, "ceasefire_breach")
        await closed.decide(Action.STAND_DOWN, "a false alarm")
        await closed.handle.result()
        drill = await start_drill(ts_env, task_queue, "large_scale_offensive")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await drill.decide(
                Action.MERGE, "one offensive", into=closed.handle.id.removeprefix("incident-")
            )
        view = await drill.view()
        await drill.decide(Action.STAND_DOWN, "the test ends")
        await drill.handle.result()

    cause = refused.value.cause
    assert getattr(cause, "type", None) == REFUSAL_ERROR
    assert "refused the merge" in str(cause)
    assert view.phase is Phase.VERIFICATION and view.merging_into is None
    assert kinds(view)[-2:] == ["merge", "merge_refused"]


async def test_two_incidents_merged_into_each_other_at_once_never_both_close(
    ts_env, run_worker, task_queue
):
    """Two operators race: A into B and B into A, at the same moment. An incident handing over
    refuses input, so at most one merge goes through; neither is lost, none waits for ever."""
    import asyncio

    from temporalio.client import WorkflowUpdateFailedError

    async with run_worker(ts_env.client):
        a = await start_drill(ts_env, task_queue, "large_scale_offensive")
        b = await start_drill(ts_env, task_queue, "large_scale_offensive")
        a_id, b_id = (d.handle.id.removeprefix("incident-") for d in (a, b))
        answers = await asyncio.gather(
            a.decide(Action.MERGE, "one offensive", into=b_id),
            b.decide(Action.MERGE, "one offensive", into=a_id),
            return_exceptions=True,
        )
        views = [await a.view(), await b.view()]
        for drill, view in zip((a, b), views, strict=True):
            if view.outcome is None:
                await drill.decide(Action.STAND_DOWN, "the test ends")
            await drill.handle.result()

    merged = [v for v in views if v.outcome is Outcome.MERGED]
    assert len(merged) <= 1, views
    refused = [x for x in answers if isinstance(x, WorkflowUpdateFailedError)]
    assert len(refused) == 2 - len(merged)
    for view in views:
        assert view.merging_into is None  # nothing left half-way
    if merged:
        survivor = next(v for v in views if v.outcome is not Outcome.MERGED)
        assert survivor.merged_from == (merged[0].incident_id,)
