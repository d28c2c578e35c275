"""Submitting evidence, commitments and decisions to an incident's workflow, and turning the
workflow's refusals into HTTP answers.

Each submission is a Temporal update with a validator: a refused one never reaches the history.
Validators phrase refusals as ``"<field>: <reason>"``; a refusal of the value itself is a 422, a
refusal because of where the incident stands (ended, already authorized, no quorum yet) a 409.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Annotated, Any

import structlog
from fastapi import Depends, Path, Query
from sqlalchemy import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from api.context import ApiContext, get_context
from api.errors import ApiError
from db.models import Incident
from db.tokens import Principal
from foundation.ids import workflow_id_for
from plans.loader import get_plan
from plans.model import Plan
from workflows.messages import DecisionReceipt

log = structlog.get_logger(__name__)

_FIELD = re.compile(r"^([a-z_]+): ")


def update_id_for(kind: str, principal: Principal, idempotency_key: str | None) -> str:
    """The same key from the same caller names the same update: Temporal runs it once and hands
    a retried request the first answer, so a retry never doubles a decision."""
    if idempotency_key is None:
        return f"{kind}-{uuid.uuid4().hex}"
    scoped = hashlib.sha256(f"{principal.name}\0{idempotency_key}".encode()).hexdigest()[:32]
    return f"{kind}-{scoped}"


def rejection(message: str) -> ApiError:
    match = _FIELD.match(message)
    field = match.group(1) if match else None
    # No field (the incident has ended), the action itself, or "already ...": the incident's state.
    conflict = field is None or field == "action" or "already" in message
    if conflict:
        return ApiError(409, "conflict", message, field)
    return ApiError(422, "invalid", message, field)


async def incident_row(context: ApiContext, incident_id: str) -> Incident | None:
    async with context.sessions() as session:
        return await session.scalar(select(Incident).where(Incident.id == incident_id))


async def same_world(
    incident_id: Annotated[str, Path()],
    context: Annotated[ApiContext, Depends(get_context)],
    exercise: Annotated[
        bool,
        Query(description="Address an exercise incident (exercise and real incidents never mix)"),
    ] = False,
) -> None:
    """Exercise incidents are reachable only with ``exercise=true``, real ones only without: a
    tabletop exercise can never be read or acted on as a real incident, nor the reverse."""
    row = await incident_row(context, incident_id)
    if row is not None and row.exercise != exercise:
        raise not_found(incident_id)


InSameWorld = Depends(same_world)


async def pinned_plan(context: ApiContext, incident_id: str) -> Plan | None:
    """The plan the incident runs under, when the plan file still has that version: lets the edge
    name a bad party or kind before asking the workflow."""
    row = await incident_row(context, incident_id)
    if row is None:
        return None
    try:
        plan = get_plan(row.plan_id)
    except KeyError:
        return None
    return plan if plan.version == row.plan_version else None


async def submit(
    context: ApiContext, incident_id: str, update: Any, argument: Any, update_id: str
) -> DecisionReceipt:
    handle = context.client.get_workflow_handle(workflow_id_for(incident_id))
    bound = log.bind(incident_id=incident_id, workflow_id=handle.id, update_id=update_id)
    try:
        receipt: DecisionReceipt = await handle.execute_update(update, argument, id=update_id)
    except WorkflowUpdateFailedError as exc:
        message = str(getattr(exc.cause, "message", None) or exc.cause or exc)
        bound.info("update.rejected", reason=message)
        raise rejection(message) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise ApiError(
            503,
            "unavailable",
            "the incident did not answer in time; retry with the same Idempotency-Key",
        ) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise await _not_running(context, incident_id) from None
        raise
    bound.info("update.accepted", decisions=list(receipt.decisions), seq=receipt.seq)
    return receipt


async def workflow_status(context: ApiContext, incident_id: str) -> WorkflowExecutionStatus | None:
    """The status of the incident's latest run; None when there is no such workflow.

    Read from the raw describe response: the SDK's describe() also decodes search attributes,
    which fails on the time-skipping server's datetime attributes.
    """
    request = DescribeWorkflowExecutionRequest(
        namespace=context.client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id_for(incident_id)),
    )
    try:
        response = await context.client.workflow_service.describe_workflow_execution(request)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return WorkflowExecutionStatus(response.workflow_execution_info.status)


async def _not_running(context: ApiContext, incident_id: str) -> ApiError:
    status = await workflow_status(context, incident_id)
    if status is None:
        return not_found(incident_id)
    if status is WorkflowExecutionStatus.RUNNING:
        return ApiError(503, "unavailable", "the incident is momentarily unreachable; retry")
    return ApiError(
        409, "conflict", f"incident {incident_id} has ended; no further input is accepted"
    )


def not_found(incident_id: str) -> ApiError:
    return ApiError(404, "not_found", f"incident_id: no incident {incident_id!r}", "incident_id")
