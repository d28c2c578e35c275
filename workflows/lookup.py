"""Asking Temporal about an incident: whether its workflow runs, and its view (the query while it
runs, the result once it has completed). The API, the board, the audit and the exercises all ask
through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from foundation.ids import workflow_id_for
from workflows.incident import IncidentWorkflow
from workflows.messages import IncidentView
from workflows.updating import query


@dataclass(frozen=True)
class Lookup:
    """What Temporal says of an incident: its workflow's status, and its view when it has one
    (None for a workflow that did not run to an outcome: failed, terminated, timed out)."""

    status: WorkflowExecutionStatus
    view: IncidentView | None

    @property
    def running(self) -> bool:
        return self.status is WorkflowExecutionStatus.RUNNING


async def execution_status(
    client: Client, incident_id: str, *, rpc_timeout: timedelta | None = None
) -> WorkflowExecutionStatus | None:
    """The status of the incident's latest run; None when there is no such workflow.

    Read from the raw describe response: the SDK's ``describe()`` also decodes the search
    attributes, which fails on the time-skipping server's datetime attributes.
    """
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id_for(incident_id)),
    )
    try:
        response = await client.workflow_service.describe_workflow_execution(
            request, timeout=rpc_timeout
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return WorkflowExecutionStatus(response.workflow_execution_info.status)


async def has_closed(client: Client, incident_id: str) -> bool:
    """Whether the incident's workflow has ended (False too when Temporal cannot say)."""
    try:
        status = await execution_status(client, incident_id)
    except RPCError:
        return False
    return status is not None and status is not WorkflowExecutionStatus.RUNNING


async def look_up(
    client: Client, incident_id: str, *, rpc_timeout: timedelta | None = None
) -> Lookup | None:
    """The incident's status and view; None when Temporal has no such workflow.

    Raises RPCError when Temporal cannot answer, and the SDK's query error when a running
    workflow cannot (no worker, a stuck task).
    """
    status = await execution_status(client, incident_id, rpc_timeout=rpc_timeout)
    if status is None:
        return None
    handle = client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id_for(incident_id))
    if status is WorkflowExecutionStatus.RUNNING:
        return Lookup(status, await query(handle, IncidentWorkflow.state, rpc_timeout=rpc_timeout))
    if status is WorkflowExecutionStatus.COMPLETED:
        try:
            # The final view needs no worker.
            return Lookup(status, await handle.result(rpc_timeout=rpc_timeout))
        except TypeError:
            # A result an older engine wrote in a shape this one cannot read: the query replays
            # the history with this code and answers in today's shape (a worker must run).
            return Lookup(
                status, await query(handle, IncidentWorkflow.state, rpc_timeout=rpc_timeout)
            )
    return Lookup(status, None)
