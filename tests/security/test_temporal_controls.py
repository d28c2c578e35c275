"""The Temporal Web UI's Cancel, Terminate and Reset, as a Temporal client sends them: a cancel
closes the incident in the ledger (``cancelled``, with the requester's identity from the
history); a terminate and a reset happen outside the ledger, and the audit names them
(terminated, forked). On SQLite and PostgreSQL, through the API's verify and the CLI.
"""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionStatus

from foundation.ids import workflow_id_for
from tests.security.ledger_support import cli_verify, rows_of
from tests.security.test_ledger_anchor import live_incident, temporal_env, verified
from workflows.incident import IncidentWorkflow
from workflows.lookup import execution_status
from workflows.messages import Outcome
from workflows.state import TEMPORAL_CANCEL


async def test_a_cancel_from_temporal_closes_the_incident_in_the_ledger(
    dev_env, run_worker, api, tokens, sessions, database_url
):
    client = dev_env.client
    async with run_worker(client), api(client) as http:
        incident_id = await live_incident(http, tokens)
        handle = client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id_for(incident_id))
        await handle.cancel()
        final = await handle.result()
        assert final.outcome is Outcome.CANCELLED and final.persisted_seq == len(final.timeline)
        assert await execution_status(client, incident_id) is WorkflowExecutionStatus.COMPLETED
        rows = await rows_of(sessions, incident_id)
        # Only the results of steps already handed to the sink, and of the notices (the close
        # notice among them), may follow the outcome.
        closing = next(r for r in rows if r.kind == "cancelled")
        assert closing.actor == TEMPORAL_CANCEL
        after = {r.kind for r in rows[closing.seq :]}
        assert after <= {"dispatched", "dispatch_cancelled", "notified", "delivery_failed"}
        assert "notified" in after
        assert rows[-1].hash == final.persisted_head  # the ledger ends at the workflow's head
        audit = await verified(http, tokens, incident_id)
        detail = await http.get(f"/v1/incidents/{incident_id}", headers=tokens.auth("observer"))
    assert audit["verdict"] == "intact" and audit["cancelled_by"] == client.identity
    assert f"cancelled from Temporal by {client.identity}" in audit["summary"]
    assert detail.json()["outcome"] == "cancelled"
    result = await cli_verify(database_url, incident_id, env=temporal_env(dev_env))
    assert result.exit_code == 0, result.output


async def test_a_terminate_is_named_by_the_audit(dev_env, run_worker, api, tokens, database_url):
    client = dev_env.client
    async with run_worker(client), api(client) as http:
        incident_id = await live_incident(http, tokens)
        handle = client.get_workflow_handle(workflow_id_for(incident_id))
        await handle.terminate(reason="pressed Terminate in the Web UI")
        audit = await verified(http, tokens, incident_id)
    assert audit["verdict"] == "terminated" and audit["intact"] is False
    assert audit["summary"].startswith(
        f"TERMINATED: terminated in Temporal by {client.identity} "
        "(pressed Terminate in the Web UI), with no outcome in the ledger"
    )
    result = await cli_verify(database_url, incident_id, env=temporal_env(dev_env))
    assert result.exit_code == 1 and f"{incident_id}: TERMINATED" in result.output


async def _first_task_completed(client: Any, workflow_id: str) -> int:
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return event.event_id
    raise AssertionError("no workflow task completed")


async def test_a_reset_is_named_a_fork(dev_env, run_worker, api, tokens, database_url):
    """A reset decides every step after the reset point again, in a new run that conflicts
    with the ledger: unsupported, and the audit says forked."""
    client = dev_env.client
    async with run_worker(client), api(client) as http:
        incident_id = await live_incident(http, tokens)
        workflow_id = workflow_id_for(incident_id)
        await client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id),
                reason="pressed Reset in the Web UI",
                workflow_task_finish_event_id=await _first_task_completed(client, workflow_id),
                request_id=str(uuid.uuid4()),
            )
        )
        audit = await verified(http, tokens, incident_id)
    assert audit["verdict"] == "forked" and audit["intact"] is False
    assert "reset in Temporal" in audit["summary"] and "unsupported" in audit["summary"]
    result = await cli_verify(database_url, incident_id, env=temporal_env(dev_env))
    assert result.exit_code == 1 and f"{incident_id}: FORKED" in result.output
