"""What Temporal itself records of incidents, outside the engine's database: which incidents it
knows, how each execution ended, who cancelled or terminated it, whether it was reset, and how long
the namespace keeps a closed history. The ledger audit anchors to these facts; an attacker with
the database cannot rewrite them.

Read from the raw service responses: the SDK's ``describe()`` and ``list_workflows()`` also
decode the search attributes, which fails on the time-skipping server's datetime attributes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
    GetWorkflowExecutionHistoryReverseRequest,
    ListWorkflowExecutionsRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from foundation.ids import incident_id_from_workflow_id, workflow_id_for
from workflows.names import INCIDENT_WORKFLOW


@dataclass(frozen=True)
class Execution:
    """The latest run of an incident's workflow, as Temporal describes it."""

    workflow_id: str
    run_id: str
    status: WorkflowExecutionStatus
    # Set once the workflow has been reset (the Web UI's Reset, or a client's).
    reset_at: datetime | None
    reset_run_id: str


async def describe(client: Client, incident_id: str) -> Execution | None:
    """The incident's latest run; None when Temporal has no such workflow (never had one, or
    no longer keeps it). Raises RPCError when Temporal cannot answer."""
    workflow_id = workflow_id_for(incident_id)
    try:
        response = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
            )
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    info, extended = response.workflow_execution_info, response.workflow_extended_info
    return Execution(
        workflow_id=workflow_id,
        run_id=info.execution.run_id,
        status=WorkflowExecutionStatus(info.status),
        reset_at=(
            extended.last_reset_time.ToDatetime(tzinfo=UTC)
            if extended.HasField("last_reset_time")
            else None
        ),
        reset_run_id=extended.reset_run_id,
    )


async def runs(client: Client, incident_id: str) -> list[tuple[str, WorkflowExecutionStatus]]:
    """Every run of the incident's workflow Temporal's visibility lists, newest first."""
    query = f"WorkflowId = '{workflow_id_for(incident_id)}'"
    return [
        (e.execution.run_id, WorkflowExecutionStatus(e.status)) async for e in _list(client, query)
    ]


async def incident_ids(client: Client) -> set[str]:
    """Every incident whose workflow Temporal's visibility lists (each run counted once)."""
    found = set()
    async for execution in _list(client, f"WorkflowType = '{INCIDENT_WORKFLOW}'"):
        incident_id = incident_id_from_workflow_id(execution.execution.workflow_id)
        if incident_id is not None:
            found.add(incident_id)
    return found


async def _list(client: Client, query: str) -> AsyncIterator[WorkflowExecutionInfo]:
    token = b""
    while True:
        page = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace=client.namespace, query=query, page_size=1000, next_page_token=token
            )
        )
        for execution in page.executions:
            yield execution
        token = page.next_page_token
        if not token:
            return


@dataclass(frozen=True)
class Actor:
    """Who asked Temporal for something, as its history records it."""

    identity: str
    reason: str = ""


async def cancel_request(client: Client, workflow_id: str, run_id: str) -> Actor | None:
    """Who requested the cancel of this run (its WorkflowExecutionCancelRequested event)."""
    token = b""
    while True:
        page = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                next_page_token=token,
            )
        )
        for event in page.history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
                attributes = event.workflow_execution_cancel_requested_event_attributes
                return Actor(attributes.identity, attributes.cause)
        token = page.next_page_token
        if not token:
            return None


async def termination(client: Client, workflow_id: str, run_id: str) -> Actor | None:
    """Who terminated this run, and why: its last event, read from the end of the history."""
    page = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            maximum_page_size=1,
        )
    )
    for event in page.history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            attributes = event.workflow_execution_terminated_event_attributes
            return Actor(attributes.identity, attributes.reason)
    return None


async def retention(client: Client) -> timedelta | None:
    """How long the namespace keeps a closed workflow's history (None: Temporal does not say)."""
    response = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace)
    )
    ttl = response.config.workflow_execution_retention_ttl
    return (
        ttl.ToTimedelta() if response.config.HasField("workflow_execution_retention_ttl") else None
    )


async def ensure_retention(client: Client, namespace: str, days: int) -> bool:
    """Keep closed histories at least ``days`` in ``namespace`` (the audit anchors to them);
    True if it was raised."""
    current = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    wanted = timedelta(days=days)
    if current.config.workflow_execution_retention_ttl.ToTimedelta() >= wanted:
        return False
    ttl = Duration()
    ttl.FromTimedelta(wanted)
    await client.workflow_service.update_namespace(
        UpdateNamespaceRequest(
            namespace=namespace, config=NamespaceConfig(workflow_execution_retention_ttl=ttl)
        )
    )
    return True
