"""Submitting evidence, commitments and decisions to an incident's workflow, the incident a
request addresses (loaded once per request), and the workflow's refusals as HTTP answers.

Each submission is a Temporal update with a validator: a refused one never reaches the history.
The workflow says why it refused (``messages.Refusal`` in the error's details): invalid input is
a 422 naming the field, a conflict with where the incident stands a 409. The API adds no rules
of its own beyond what pydantic checks and which token may speak for whom.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any

import structlog
from fastapi import Depends, Path, Query
from pydantic import BaseModel
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.context import ApiContext, get_context
from api.errors import ApiError
from api.schemas.common import IncidentId
from api.schemas.incidents import Receipt
from db.idempotency import IdempotencyKeys, body_digest
from db.models import Incident
from db.repository import IncidentRepository
from db.tokens import Principal
from foundation.ids import is_exercise_id, workflow_id_for
from workflows.lookup import execution_status
from workflows.messages import DecisionReceipt, Refusal, RefusalReason
from workflows.names import REFUSAL_ERROR
from workflows.updating import StillContinuing, execute_update

log = structlog.get_logger(__name__)


def update_id_for(kind: str, principal: Principal, idempotency_key: str | None) -> str:
    """The same key from the same caller names the same update: Temporal runs it once and hands
    a retried request the first answer, so a retry never doubles a decision."""
    if idempotency_key is None:
        return f"{kind}-{uuid.uuid4().hex}"
    scoped = hashlib.sha256(f"{principal.name}\0{idempotency_key}".encode()).hexdigest()[:32]
    return f"{kind}-{scoped}"


def refusal_of(cause: BaseException | None) -> ApiError:
    """The workflow's refusal as the API answers it, from its structure, never its wording."""
    message = str(getattr(cause, "message", None) or cause or "refused")
    if isinstance(cause, ApplicationError) and cause.type == REFUSAL_ERROR and cause.details:
        detail = cause.details[0]
        refusal = Refusal(field=detail.get("field"), reason=RefusalReason(detail["reason"]))
        if refusal.reason is RefusalReason.INVALID:
            return ApiError(422, "invalid", message, refusal.field)
        return ApiError(409, "conflict", message, refusal.field)
    # Not a refusal of the input (an incident that could not start): its state is at fault.
    return ApiError(409, "conflict", message)


def not_found(incident_id: str) -> ApiError:
    return ApiError(404, "not_found", f"incident_id: no incident {incident_id!r}", "incident_id")


async def addressed_incident(
    incident_id: Annotated[IncidentId, Path(description="The incident id, e.g. donetsk-3f2a9c1e")],
    context: Annotated[ApiContext, Depends(get_context)],
    exercise: Annotated[
        bool,
        Query(description="Address an exercise incident (exercise and real incidents never mix)"),
    ] = False,
) -> Incident:
    """The incident the path names, read once for the request.

    Exercise incidents are reachable only with ``exercise=true``, real ones only without: a
    tabletop exercise can never be read or acted on as a real incident, nor the reverse. The
    world is judged from the id alone, before the database is asked: a row that is missing
    (an exercise on its own ledger) or edited (``incidents.exercise`` flipped) changes nothing.
    """
    if is_exercise_id(incident_id) != exercise:
        raise not_found(incident_id)
    async with context.sessions() as session:
        incident = await IncidentRepository(session).get(incident_id)
    if incident is None:
        raise not_found(incident_id)
    return incident


AddressedIncident = Annotated[Incident, Depends(addressed_incident)]


async def submit(
    context: ApiContext, incident: Incident, update: Any, argument: Any, update_id: str
) -> DecisionReceipt:
    handle = context.client.get_workflow_handle(workflow_id_for(incident.id))
    bound = log.bind(incident_id=incident.id, workflow_id=handle.id, update_id=update_id)
    try:
        receipt: DecisionReceipt = await execute_update(handle, update, argument, id=update_id)
    except StillContinuing:
        raise ApiError(
            503,
            "unavailable",
            "the incident is handing over to its next run; retry with the same Idempotency-Key",
            headers={"Retry-After": "5"},
        ) from None
    except WorkflowUpdateFailedError as exc:
        refused = refusal_of(exc.cause)
        bound.info("update.rejected", reason=refused.message, status=refused.status)
        raise refused from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise ApiError(
            503,
            "unavailable",
            "the incident did not answer in time; retry with the same Idempotency-Key",
        ) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise await _not_running(context, incident.id) from None
        raise
    bound.info("update.accepted", decisions=list(receipt.decisions), seq=receipt.seq)
    return receipt


async def _not_running(context: ApiContext, incident_id: str) -> ApiError:
    status = await execution_status(context.client, incident_id)
    if status is None:
        return not_found(incident_id)
    if status is WorkflowExecutionStatus.RUNNING:
        return ApiError(503, "unavailable", "the incident is momentarily unreachable; retry")
    return ApiError(
        409, "conflict", f"incident {incident_id} has ended; no further input is accepted"
    )


async def submit_once(
    context: ApiContext,
    principal: Principal,
    incident: Incident,
    kind: str,
    update: Any,
    argument: Any,
    body: BaseModel,
    idempotency_key: str | None,
) -> Receipt:
    """Submit, answering a retried ``Idempotency-Key`` with its first receipt.

    The key is bound to its caller and its body before the update is sent: the same key with
    another body is refused (422), and a retry that reaches the incident's next run (after a
    continue-as-new, where Temporal no longer knows the update id) gets the first receipt
    instead of a second decision.
    """
    update_id = update_id_for(kind, principal, idempotency_key)
    if idempotency_key is None:
        return receipt_of(await submit(context, incident, update, argument, update_id), update_id)
    keys = IdempotencyKeys(context.transactions)
    claim = await keys.claim(
        principal=principal.name,
        key=idempotency_key,
        digest=body_digest(kind, incident.id, body.model_dump(mode="json")),
        incident_id=incident.id,
        kind=kind,
    )
    if not claim.same_body:
        raise ApiError(
            422,
            "invalid",
            "Idempotency-Key: already used for another request; a retry must repeat the "
            "first request exactly, a new request needs a new key",
            "Idempotency-Key",
        )
    if claim.receipt is not None:
        return Receipt.model_validate(claim.receipt)
    receipt = receipt_of(await submit(context, incident, update, argument, update_id), update_id)
    await keys.answer(
        principal=principal.name, key=idempotency_key, receipt=receipt.model_dump(mode="json")
    )
    return receipt


def receipt_of(receipt: DecisionReceipt, update_id: str) -> Receipt:
    return Receipt(
        incident_id=receipt.incident_id,
        update_id=update_id,
        seq=receipt.seq,
        decisions=list(receipt.decisions),
        phase=receipt.phase,
        outcome=receipt.outcome,
        escalation_level=receipt.escalation_level,
        message=receipt.message,
    )
