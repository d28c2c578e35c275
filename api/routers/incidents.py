"""Incidents: listed from the ledger's read side, shown live from the workflow, acted on through
the workflow's updates."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError

from api.auth import Permission, require
from api.context import ApiContext, get_context
from api.errors import ApiError, documented
from api.schemas.common import IncidentId, PlanName
from api.schemas.incidents import (
    ChainStatus,
    CommitmentIn,
    DeadlineOut,
    DecisionIn,
    EvidenceIn,
    IncidentDetail,
    IncidentList,
    IncidentSummary,
    Ledger,
    LedgerRow,
    Receipt,
)
from api.updates import InSameWorld, not_found, pinned_plan, submit, update_id_for, workflow_status
from db.chain import verify_chain
from db.models import Incident, LedgerDecision
from db.tokens import Principal
from foundation.ids import workflow_id_for
from workflows.incident import IncidentWorkflow
from workflows.messages import (
    Action,
    CommitmentInput,
    DeadlineStatus,
    DecisionInput,
    DecisionReceipt,
    EvidenceInput,
    IncidentView,
    Outcome,
    Phase,
)

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])

IncidentPath = Annotated[IncidentId, Path(description="The incident id, e.g. donetsk-3f2a9c1e")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]+$",
        max_length=200,
        description="Retrying a request with the same key never records it twice",
    ),
]
Reader = Annotated[Principal, Depends(require(Permission.READ))]
Context = Annotated[ApiContext, Depends(get_context)]
WRITE_ERRORS = documented(400, 401, 403, 404, 409, 413, 422, 503)


class IncidentFilters(BaseModel):
    """Unknown parameters are refused: a misspelt filter must not silently list everything."""

    model_config = ConfigDict(extra="forbid")

    kind: PlanName | None = None
    phase: Phase | None = None
    outcome: Outcome | None = None
    status: Literal["open", "closed"] | None = Field(
        default=None, description="open or closed incidents only"
    )
    exercise: bool = Field(default=False, description="Exercise incidents instead of real ones")
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000)


@router.get(
    "", response_model=IncidentList, responses=documented(401, 403, 422), summary="List incidents"
)
async def list_incidents(
    context: Context, _: Reader, filters: Annotated[IncidentFilters, Query()]
) -> IncidentList:
    """Most recently observed first, from the read side the ledger keeps current."""
    kind, phase, outcome, status = filters.kind, filters.phase, filters.outcome, filters.status
    exercise, limit, offset = filters.exercise, filters.limit, filters.offset
    query = select(Incident).where(Incident.exercise.is_(exercise))
    if kind is not None:
        query = query.where(Incident.kind == kind)
    if phase is not None:
        query = query.where(Incident.phase == str(phase))
    if outcome is not None:
        query = query.where(Incident.outcome == str(outcome))
    if status == "open":
        query = query.where(Incident.outcome.is_(None))
    elif status == "closed":
        query = query.where(Incident.outcome.is_not(None))
    query = query.order_by(Incident.observed_at.desc(), Incident.id).limit(limit + 1).offset(offset)
    async with context.sessions() as session:
        rows = list(await session.scalars(query))
    return IncidentList(
        incidents=[IncidentSummary.model_validate(row) for row in rows[:limit]],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(rows) > limit else None,
    )


@router.get(
    "/{incident_id}",
    dependencies=[InSameWorld],
    response_model=IncidentDetail,
    responses=documented(401, 403, 404, 409, 422, 503),
    summary="The live state of an incident",
)
async def show_incident(incident_id: IncidentPath, context: Context, _: Reader) -> IncidentDetail:
    """Phase, outcome, escalation, every deadline with the time left, commitments and the
    timeline, straight from the incident's workflow."""
    handle = context.client.get_workflow_handle_for(
        IncidentWorkflow.run, workflow_id_for(incident_id)
    )
    execution = await workflow_status(context, incident_id)
    if execution is None:
        raise not_found(incident_id)
    try:
        if execution is WorkflowExecutionStatus.RUNNING:
            view = await handle.query(IncidentWorkflow.state)
            status: Literal["running", "completed"] = "running"
        elif execution is WorkflowExecutionStatus.COMPLETED:
            view = await handle.result()  # the final view: needs no worker
            status = "completed"
        else:
            raise ApiError(
                409,
                "conflict",
                f"incident {incident_id} did not run to an outcome ({execution.name.lower()})",
            )
    except WorkflowQueryFailedError as exc:
        raise ApiError(409, "conflict", f"incident {incident_id}: {exc}") from None
    return detail_of(view, handle.id, status, await context.clock())


def detail_of(
    view: IncidentView, workflow_id: str, status: Literal["running", "completed"], now: datetime
) -> IncidentDetail:
    data: dict[str, Any] = {f.name: getattr(view, f.name) for f in fields(view)}

    def deadline(d: Any) -> DeadlineOut:
        left = (d.due_at - now).total_seconds() if d.status is DeadlineStatus.PENDING else None
        return DeadlineOut.model_validate(d).model_copy(update={"seconds_left": left})

    data["deadlines"] = [deadline(d) for d in view.deadlines]
    data["next_deadline"] = deadline(view.next_deadline) if view.next_deadline else None
    return IncidentDetail.model_validate(
        {**data, "workflow_id": workflow_id, "status": status, "as_of": now}
    )


@router.get(
    "/{incident_id}/decisions",
    dependencies=[InSameWorld],
    response_model=Ledger,
    responses=documented(401, 403, 404, 422),
    summary="The incident's ledger, in order, with its hash chain checked",
)
async def incident_ledger(incident_id: IncidentPath, context: Context, _: Reader) -> Ledger:
    async with context.sessions() as session:
        incident = await session.scalar(select(Incident).where(Incident.id == incident_id))
        if incident is None:
            raise not_found(incident_id)
        rows = list(
            await session.scalars(
                select(LedgerDecision)
                .where(LedgerDecision.incident_id == incident_id)
                .order_by(LedgerDecision.seq)
            )
        )
    broken = verify_chain(incident.workflow_id, rows)
    return Ledger(
        incident_id=incident_id,
        workflow_id=incident.workflow_id,
        chain=ChainStatus(intact=True)
        if broken is None
        else ChainStatus(intact=False, broken_at_seq=broken.seq, problem=broken.problem),
        decisions=[LedgerRow.model_validate(row) for row in rows],
    )


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


@router.post(
    "/{incident_id}/evidence",
    dependencies=[InSameWorld],
    response_model=Receipt,
    responses=WRITE_ERRORS,
    summary="Add evidence (a new source counts towards verification)",
)
async def add_evidence(
    incident_id: IncidentPath,
    body: EvidenceIn,
    context: Context,
    principal: Annotated[Principal, Depends(require(Permission.EVIDENCE))],
    idempotency_key: IdempotencyKey = None,
) -> Receipt:
    update_id = update_id_for("evidence", principal, idempotency_key)
    evidence = EvidenceInput(source=body.source, summary=body.summary, actor=principal.name)
    receipt = await submit(
        context, incident_id, IncidentWorkflow.submit_evidence, evidence, update_id
    )
    return receipt_of(receipt, update_id)


@router.post(
    "/{incident_id}/commitments",
    dependencies=[InSameWorld],
    response_model=Receipt,
    responses=WRITE_ERRORS,
    summary="An allied party commits assets, or declines",
)
async def add_commitment(
    incident_id: IncidentPath,
    body: CommitmentIn,
    context: Context,
    principal: Annotated[Principal, Depends(require(Permission.COMMIT))],
    idempotency_key: IdempotencyKey = None,
) -> Receipt:
    """An `ally:<party>` token answers for its own party only."""
    party = body.party or principal.party
    if party != principal.party:
        raise ApiError(
            403,
            "forbidden",
            f"party: a token of {principal.party} cannot answer for {party}",
            "party",
        )
    plan = await pinned_plan(context, incident_id)
    if plan is not None:
        if party not in plan.parties:
            raise ApiError(
                422, "invalid", f"party: {party!r} is not a party of plan {plan.id}", "party"
            )
        unknown = [a for a in body.assets if a not in plan.assets]
        if unknown:
            raise ApiError(
                422,
                "invalid",
                f"assets: unknown {unknown}; the plan knows {list(plan.assets)}",
                "assets",
            )
    update_id = update_id_for("commitment", principal, idempotency_key)
    commitment = CommitmentInput(
        party=party,
        answer=body.answer,
        assets=tuple(body.assets),
        actor=principal.name,
        rationale=body.rationale,
    )
    receipt = await submit(
        context, incident_id, IncidentWorkflow.submit_commitment, commitment, update_id
    )
    return receipt_of(receipt, update_id)


@router.post(
    "/{incident_id}/decisions",
    dependencies=[InSameWorld],
    response_model=Receipt,
    responses=WRITE_ERRORS,
    summary="An operator decision: confirm, authorize, stand_down or reclassify",
)
async def decide(
    incident_id: IncidentPath,
    body: DecisionIn,
    context: Context,
    principal: Annotated[Principal, Depends(require(Permission.DECIDE))],
    idempotency_key: IdempotencyKey = None,
) -> Receipt:
    if body.action is Action.RECLASSIFY and body.new_kind is not None:
        plan = await pinned_plan(context, incident_id)
        if plan is not None and not plan.has_kind(body.new_kind):
            raise ApiError(
                422,
                "invalid",
                f"new_kind: {body.new_kind!r} is not a kind of plan {plan.id} ({', '.join(plan.kind_names)})",
                "new_kind",
            )
    update_id = update_id_for("decision", principal, idempotency_key)
    decision = DecisionInput(
        action=body.action, actor=principal.name, rationale=body.rationale, new_kind=body.new_kind
    )
    receipt = await submit(
        context, incident_id, IncidentWorkflow.submit_decision, decision, update_id
    )
    return receipt_of(receipt, update_id)
