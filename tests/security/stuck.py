"""Stuck-workflow detection after an attack run: every incident the run opened must still answer
its query, must not be failing its workflow task over and over, and, if still open, must accept
an operator's stand-down and close within a deadline.

A workflow whose task keeps failing looks RUNNING in every listing while it can do nothing
(a payload over Temporal's limit, a sandbox error): only its history and its pending task say so.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus

from foundation.ids import workflow_id_for
from workflows.lookup import execution_status, look_up

RPC_TIMEOUT = timedelta(seconds=15)
FAILING_ATTEMPTS = 3  # a workflow task tried this often and still pending is failing in a loop
CONCURRENCY = 8
_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: "completed",
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: "timed out",
}


@dataclass
class StuckReport:
    checked: int = 0
    stood_down: int = 0
    stuck: dict[str, str] = field(default_factory=dict)  # incident id -> why
    task_failures: int = 0  # WORKFLOW_TASK_FAILED events seen, stuck or not

    def lines(self) -> list[str]:
        return [f"{incident}: {why}" for incident, why in sorted(self.stuck.items())]


async def failing_task(client: Client, incident_id: str) -> tuple[str | None, int]:
    """Why the incident's workflow task is failing in a loop (None if it is not), and how many
    WORKFLOW_TASK_FAILED events its latest run's history holds."""
    handle = client.get_workflow_handle(workflow_id_for(incident_id))
    history = await handle.fetch_history(rpc_timeout=RPC_TIMEOUT)
    outcomes = [_TASK_EVENTS[e.event_type] for e in history.events if e.event_type in _TASK_EVENTS]
    failures = outcomes.count("failed")
    describe = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        ),
        timeout=RPC_TIMEOUT,
    )
    attempt = (
        describe.pending_workflow_task.attempt if describe.HasField("pending_workflow_task") else 0
    )
    if attempt >= FAILING_ATTEMPTS:
        return f"its workflow task is failing in a loop (attempt {attempt})", failures
    running = describe.workflow_execution_info.status == WorkflowExecutionStatus.RUNNING.value
    if outcomes and outcomes[-1] == "failed" and running:
        return (
            "its last workflow task failed (WORKFLOW_TASK_FAILED) and none completed since",
            failures,
        )
    return None, failures


async def find_stuck(
    client: Client,
    api_url: str,
    operator_token: str,
    incidents: set[str],
    exercises: set[str],
    close_within_s: float = 60.0,
) -> StuckReport:
    report = StuckReport(checked=len(incidents))
    gate = asyncio.Semaphore(CONCURRENCY)
    stood_down: list[str] = []

    async def check(http: httpx.AsyncClient, incident_id: str) -> None:
        async with gate:
            try:
                found = await look_up(client, incident_id, rpc_timeout=RPC_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 (any failure to answer is the finding)
                report.stuck[incident_id] = f"its query failed: {type(exc).__name__}: {exc}"
                return
            if found is None:
                report.stuck[incident_id] = "Temporal has no workflow for it"
                return
            if found.status not in (
                WorkflowExecutionStatus.RUNNING,
                WorkflowExecutionStatus.COMPLETED,
            ):
                report.stuck[incident_id] = f"its workflow ended {found.status.name}"
                return
            why, failures = await failing_task(client, incident_id)
            report.task_failures += failures
            if why:
                report.stuck[incident_id] = why
                return
            if not found.running or (found.view is not None and found.view.outcome is not None):
                return
            answer = await http.post(
                f"/v1/incidents/{incident_id}/decisions",
                params={"exercise": "true"} if incident_id in exercises else {},
                json={"action": "stand_down", "rationale": "attack rerun over: standing down"},
                headers={"Authorization": f"Bearer {operator_token}"},
            )
            if answer.status_code == 409:
                return  # it closed meanwhile
            if answer.status_code != 200:
                report.stuck[incident_id] = (
                    f"a stand-down was answered {answer.status_code}: {answer.text[:200]}"
                )
                return
            stood_down.append(incident_id)

    async with httpx.AsyncClient(base_url=api_url, timeout=60) as http:
        await asyncio.gather(*(check(http, i) for i in sorted(incidents)))
    report.stood_down = len(stood_down)

    deadline = time.monotonic() + close_within_s
    waiting = set(stood_down)
    while waiting and time.monotonic() < deadline:
        for incident_id in list(waiting):
            status = await execution_status(client, incident_id, rpc_timeout=RPC_TIMEOUT)
            if status is not WorkflowExecutionStatus.RUNNING:
                waiting.discard(incident_id)
                if status is not WorkflowExecutionStatus.COMPLETED:
                    name = "gone" if status is None else status.name
                    report.stuck[incident_id] = f"stood down, then ended {name}"
        if waiting:
            await asyncio.sleep(0.5)
    for incident_id in waiting:
        report.stuck[incident_id] = f"stood down, but still running after {close_within_s:g} s"
    return report
