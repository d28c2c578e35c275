"""A ledger the database refuses for good (here: another row already holds seq 1) fails loudly and
blocks nothing else: the incident shows LEDGER BLOCKED, new input is refused with the reason, the
deadlines still fall due, and once the database is repaired the ledger catches up by itself.

``RECORD_HISTORIES=1`` also writes the incident's history to tests/histories/ledger-blocked.json
(the recorded history that replays the ``ledger-blocked`` patch)."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from db.models import Incident, LedgerDecision
from db.repository import row_values
from exercises.histories import HISTORIES_DIR, export_history
from foundation.ids import workflow_id_for
from plans.loader import get_plan
from tests.security.test_ledger_tamper import tamper
from tests.workflows.support import REPORTER, assert_ledger_matches
from workflows.incident import LEDGER_BLOCKED_RETRY, IncidentWorkflow
from workflows.messages import (
    DeadlineStatus,
    EvidenceInput,
    IncidentView,
    Outcome,
    Phase,
    ViolationReport,
)
from workflows.starting import build_input, start_incident
from workflows.state import IncidentState


async def _blocked(handle) -> IncidentView:
    for _ in range(200):
        view = await handle.query(IncidentWorkflow.state)
        if view.ledger_problem:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError("the ledger never reported itself blocked")


async def test_a_blocked_ledger_is_shown_refuses_input_keeps_deadlines_and_resumes(
    ts_env, run_worker, engine, sessions, task_queue, caplog
):
    now = await ts_env.get_current_time()
    report = ViolationReport(
        report_id=f"blocked-{uuid.uuid4().hex}", kind="ceasefire_breach", sector="kherson",
        reported_by=REPORTER, summary="shelling", observed_at=now, reported_at=now,
    )  # fmt: skip
    # Twelve plan hours per hour: the 12 h verification deadline falls due 1 h in.
    incident = build_input(report, get_plan(), time_scale=12)
    incident_id, workflow_id = incident.incident_id, workflow_id_for(incident.incident_id)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Incident), row_values(IncidentState(incident, now).snapshot())
        )
        await connection.execute(
            insert(LedgerDecision),
            {
                "incident_id": incident_id, "seq": 1, "kind": "reported", "actor": "mallory",
                "rationale": "", "payload": {}, "occurred_at": now, "t_plus_hours": 0.0,
                "workflow_id": workflow_id, "run_id": "forged", "prev_hash": "0" * 64,
                "hash": "f" * 64,
            },
        )  # fmt: skip

    async with run_worker(ts_env.client):
        with caplog.at_level(logging.ERROR, logger="temporalio.workflow"):
            handle = await start_incident(ts_env.client, incident, task_queue, now=now)
            view = await _blocked(handle)
        problem = view.ledger_problem
        assert f"decision 1 of {incident_id}" in problem and "other content" in problem
        assert any("LEDGER BLOCKED" in r.getMessage() for r in caplog.records), caplog.records
        metadata = await handle.query("__temporal_workflow_metadata")
        assert metadata.current_details.startswith(f"**LEDGER BLOCKED**: {problem}")

        # Accepted, an input would wait for ever on its ledger write: refused, with the reason.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                IncidentWorkflow.submit_evidence, EvidenceInput("allied-isr", "imagery", "isr")
            )
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.details[0] == {"field": None, "reason": "conflict"}
        assert "the ledger is blocked" in cause.message and problem in cause.message

        # The deadlines do not wait on the ledger.
        await ts_env.sleep(timedelta(hours=1.5))
        view = await handle.query(IncidentWorkflow.state)
        assert view.outcome is Outcome.UNVERIFIED_CLOSED and view.phase is Phase.CLOSED
        assert view.deadlines[0].status is DeadlineStatus.MISSED
        assert view.ledger_problem == problem and view.persisted_seq == 0
        # Still running: it completes only once its ledger is whole.
        history = await handle.fetch_history()
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED not in [
            e.event_type for e in history.events
        ]

        # Repaired: the forged row removed, the next slow retry writes the whole ledger.
        await tamper(engine, ("DELETE FROM decisions WHERE incident_id = :id", {"id": incident_id}))
        result = await handle.result()
    assert result.ledger_problem is None and result.outcome is Outcome.UNVERIFIED_CLOSED
    await assert_ledger_matches(sessions, result)

    history = await handle.fetch_history()
    events = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in events
    retries = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        == LEDGER_BLOCKED_RETRY
    ]
    # Every 10 minutes, not in a tight loop: about 1.5 h of blocked ledger.
    assert 7 <= len(retries) <= 11, len(retries)
    if os.environ.get("RECORD_HISTORIES") and engine.dialect.name == "sqlite":
        _, text = await export_history(ts_env.client, incident_id)
        (HISTORIES_DIR / "ledger-blocked.json").write_text(text)
