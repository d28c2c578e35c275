"""A busy incident hands over to a fresh run before Temporal's limits, and nothing notices: the
ledger's sequence and chain go on, the incident id stays, every run replays, the outcome is the
plan's. The limits are lowered in the input so a handful of inputs make several runs."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from db.audit import audited_ledger, find_incident
from db.chain import verify_chain
from exercises.histories import replayer
from foundation.converter import DATA_CONVERTER
from foundation.ids import workflow_id_for
from tests.workflows.support import ledger_rows, plan_decisions, start_drill
from workflows.limits import RECENT_DECISIONS, RunLimits
from workflows.messages import Action, Outcome

PAYLOAD_WARNING = 256 * 1024


async def runs_of(client: Client, workflow_id: str) -> list:
    """Every run's history, first to last: back from the latest run along the links each run's
    start keeps to the run it continues."""
    histories, run_id = [], None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id
        if not run_id:
            return histories[::-1]


def payload_bytes(value: object) -> int:
    return len(DATA_CONVERTER.payload_converter.to_payloads([value])[0].data)


async def test_a_busy_incident_continues_as_new_and_keeps_its_ledger(
    ts_env, run_worker, sessions, task_queue
):
    async with run_worker(ts_env.client):
        drill = await start_drill(
            ts_env, task_queue, "large_scale_offensive", limits=RunLimits(updates=6)
        )
        await drill.at(1)
        for i in range(30):  # two sources verify; the rest is a busy cell's traffic
            await drill.evidence(f"isr-{i % 3}", f"сводка {i}: колонны у линии соприкосновения")
        during = await drill.view()
        await drill.at(10)
        for party, assets in (("uk", ("air",)), ("pl", ("ground",)), ("us", ("air", "naval"))):
            await drill.commit(party, *assets)
        await drill.at(20)
        receipt = await drill.decide(Action.AUTHORIZE, "quorum reached; NAC concurs")
        view = await drill.result()

    assert receipt.outcome is Outcome.ACTIVATED and view.outcome is Outcome.ACTIVATED
    assert during.run >= 3 and view.run >= 6, (during.run, view.run)
    assert len(during.timeline) <= RECENT_DECISIONS
    assert payload_bytes(view) < PAYLOAD_WARNING

    # One ledger across the runs: every decision once, in order, chained from the first row.
    rows = await ledger_rows(sessions, view.incident_id)
    assert [r.seq for r in rows] == list(range(1, view.decisions_total + 1))
    assert verify_chain(workflow_id_for(view.incident_id), rows) is None
    assert [r.kind for r in rows].count("evidence_accepted") == 30
    # Activated, then ended by the drill's terminate (an active response stays open until then).
    assert [r.kind for r in plan_decisions(rows)][-3:] == ["activated", "terminate", "terminated"]
    assert len({r.run_id for r in rows}) >= 6  # each run wrote its own decisions
    incident = await find_incident(sessions, view.incident_id)
    audit, _ = await audited_ledger(sessions, incident, ts_env.client)
    assert audit.intact and audit.checked_against_workflow, audit

    # Every run replays, and hands its successor a small input.
    histories = await runs_of(ts_env.client, drill.handle.id)
    assert len(histories) == view.run
    for history in histories:
        await replayer().replay_workflow(history)
    for history in histories[:-1]:
        carried = history.events[-1].workflow_execution_continued_as_new_event_attributes
        assert all(len(p.data) < PAYLOAD_WARNING for p in carried.input.payloads)


async def test_inputs_racing_a_hand_over_are_all_taken_once(
    ts_env, run_worker, sessions, task_queue
):
    """Many clients at once while runs hand over: each input is refused as retryable during a
    drain, retried, and decided exactly once."""
    async with run_worker(ts_env.client):
        drill = await start_drill(
            ts_env, task_queue, "large_scale_offensive", limits=RunLimits(updates=4)
        )
        await drill.at(1)
        receipts = await asyncio.gather(
            *(drill.evidence(f"src-{i}", f"report {i}") for i in range(24))
        )
        receipt = await drill.decide(Action.STAND_DOWN, "a drill")
        view = await drill.result()
    assert view.outcome is Outcome.STOOD_DOWN and receipt.outcome is Outcome.STOOD_DOWN
    assert view.run >= 2
    rows = await ledger_rows(sessions, view.incident_id)
    accepted = [r for r in rows if r.kind == "evidence_accepted"]
    assert sorted(r.payload["source"] for r in accepted) == sorted(f"src-{i}" for i in range(24))
    assert len({r.seq for r in rows}) == len(rows) == view.decisions_total
    assert len({r.seq for r in receipts}) == len(receipts)  # each input decided once
