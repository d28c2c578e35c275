"""Incidents: listed from the ledger's read side, shown live from the workflow, acted on through
the workflow's updates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import WorkflowQueryFailedError

from api.auth import Permission, require
from api.context import ApiContext, get_context
from api.errors import ApiError, documented
from api.merging import check_merge_target
from api.ratelimit import limit_writes
from api.related import related_of
from api.routes import AuthenticatedRoute
from api.schemas.common import PlanName
from api.schemas.incidents import (
    AcknowledgementIn,
    CommitmentIn,
    DeadlineOut,
    DecisionIn,
    Deliveries,
    DeliveryOut,
    DeploymentIn,
    EvidenceIn,
    IncidentDetail,
    IncidentList,
    IncidentSummary,
    Ledger,
    LedgerRow,
    LedgerVerdict,
    NextDeadline,
    NoteIn,
    Receipt,
    RelatedIncidents,
    TimelineEntry,
)
from api.updates import AddressedIncident, not_found, submit_once
from db.audit import audited_ledger
from db.deliveries import incident_deliveries
from db.models import Incident
from db.repository import IncidentFilter, IncidentRepository, snapshot_of
from db.texts import carried, ref_in, texts_for
from db.tokens import Principal
from foundation.ids import workflow_id_for
from workflows.decisions import detail
from workflows.incident import IncidentWorkflow
from workflows.lookup import look_up
from workflows.messages import (
    AcknowledgeInput,
    Action,
    CommitmentInput,
    DeadlineStatus,
    DecisionInput,
    DeploymentInput,
    EvidenceInput,
    IncidentView,
    NoteInput,
    Outcome,
    Phase,
    ScheduleEntry,
    next_after,
)

router = APIRouter(prefix="/v1/incidents", tags=["incidents"], route_class=AuthenticatedRoute)

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
WRITE_ERRORS = documented(400, 401, 403, 404, 408, 409, 413, 422, 429, 503)


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
    where = IncidentFilter(
        exercise=filters.exercise,
        kind=filters.kind,
        phase=None if filters.phase is None else str(filters.phase),
        outcome=None if filters.outcome is None else str(filters.outcome),
        open={"open": True, "closed": False}.get(filters.status or ""),
    )
    async with context.sessions() as session:
        repository = IncidentRepository(session)
        rows = await repository.page(where, limit=filters.limit + 1, offset=filters.offset)
        absorbed = await repository.absorbed_into([r.id for r in rows[: filters.limit]])
    now = await context.clock()
    return IncidentList(
        incidents=[summary_of(row, now, absorbed[row.id]) for row in rows[: filters.limit]],
        limit=filters.limit,
        offset=filters.offset,
        next_offset=filters.offset + filters.limit if len(rows) > filters.limit else None,
    )


def next_deadline_of(schedule: tuple[ScheduleEntry, ...], now: datetime) -> NextDeadline | None:
    upcoming = next_after(schedule, now)
    if upcoming is None:
        return None
    return NextDeadline.model_validate(
        {**asdict(upcoming), "seconds_left": (upcoming.due_at - now).total_seconds()}
    )


def summary_of(row: Incident, now: datetime, merged_from: Sequence[str] = ()) -> IncidentSummary:
    snapshot = snapshot_of(row, merged_from)
    return IncidentSummary.model_validate(
        {
            **{f.name: getattr(snapshot, f.name) for f in fields(snapshot)},
            "workflow_id": workflow_id_for(row.id),
            "next_deadline": next_deadline_of(snapshot.schedule, now),
        }
    )


@router.get(
    "/{incident_id}",
    response_model=IncidentDetail,
    responses=documented(401, 403, 404, 409, 422, 503),
    summary="The live state of an incident",
)
async def show_incident(context: Context, _: Reader, incident: AddressedIncident) -> IncidentDetail:
    """Phase, outcome, escalation, every deadline with the time left, what falls due next,
    commitments and the timeline, straight from the incident's workflow."""
    try:
        found = await look_up(context.client, incident.id)
    except WorkflowQueryFailedError as exc:
        raise ApiError(409, "conflict", f"incident {incident.id}: {exc}") from None
    if found is None:
        raise not_found(incident.id)
    if found.view is None:
        raise ApiError(
            409,
            "conflict",
            f"incident {incident.id} did not run to an outcome ({found.status.name.lower()})",
        )
    status: Literal["running", "completed"] = "running" if found.running else "completed"
    return detail_of(found.view, status, await context.clock())


def detail_of(
    view: IncidentView, status: Literal["running", "completed"], now: datetime
) -> IncidentDetail:
    data: dict[str, Any] = {f.name: getattr(view, f.name) for f in fields(view)}

    def deadline(d: Any) -> DeadlineOut:
        left = (d.due_at - now).total_seconds() if d.status is DeadlineStatus.PENDING else None
        return DeadlineOut.model_validate(d).model_copy(update={"seconds_left": left})

    data["deadlines"] = [deadline(d) for d in view.deadlines]
    data["timeline"] = [
        TimelineEntry.model_validate({**asdict(d), "detail": detail(d.kind, d.payload)})
        for d in view.timeline
    ]
    return IncidentDetail.model_validate(
        {
            **data,
            "workflow_id": workflow_id_for(view.incident_id),
            "status": status,
            "as_of": now,
            "next_deadline": next_deadline_of(view.schedule, now),
        }
    )


class LedgerPage(BaseModel):
    """A page of the ledger: rows after ``after``, at most ``limit`` of them."""

    model_config = ConfigDict(extra="forbid")

    after: int = Field(default=0, ge=0, description="Rows after this seq")
    limit: int = Field(default=500, ge=1, le=1000)
    exercise: bool = Field(default=False, description="Address an exercise incident")


@router.get(
    "/{incident_id}/related",
    response_model=RelatedIncidents,
    responses=documented(401, 403, 404, 422),
    summary="Open incidents of the same plan observed close in time: suggested, never imposed",
)
async def related_incidents(
    context: Context, _: Reader, incident: AddressedIncident
) -> RelatedIncidents:
    return await related_of(context, incident)


@router.get(
    "/{incident_id}/notifications",
    response_model=Deliveries,
    responses=documented(401, 403, 404, 422),
    summary="Every message the incident's notices sent, each channel's delivery, undelivered ones",
)
async def incident_notifications(
    context: Context, _: Reader, incident: AddressedIncident
) -> Deliveries:
    async with context.sessions() as session:
        rows = await incident_deliveries(session, incident.id)
    return Deliveries(
        incident_id=incident.id,
        undelivered=sum(r.status == "undelivered" for r in rows),
        deliveries=[DeliveryOut.model_validate(r) for r in rows],
    )


@router.get(
    "/{incident_id}/decisions",
    response_model=Ledger,
    responses=documented(401, 403, 404, 422),
    summary="The incident's ledger, a page at a time, with the audit's verdict on all of it",
)
async def incident_ledger(
    context: Context,
    _: Reader,
    incident: AddressedIncident,
    page: Annotated[LedgerPage, Query()],
) -> Ledger:
    """The verdict is the ledger audit's (``/ledger/verify``) on the whole ledger: the hash
    chain, the outcome present, and the rows against the workflow's own decisions. The rows
    come a page at a time, in seq order; a text too long for the workflow comes back whole."""
    audit, rows = await audited_ledger(context.sessions, incident, context.client)
    shown = [row for row in rows if row.seq > page.after][: page.limit]
    async with context.sessions() as session:
        texts = await texts_for(session, (row.payload for row in shown))
    more = bool(shown) and shown[-1].seq < rows[-1].seq
    return Ledger(
        incident_id=incident.id,
        workflow_id=audit.workflow_id,
        chain=LedgerVerdict.model_validate(asdict(audit)),
        decisions=[
            LedgerRow.model_validate(row).model_copy(
                update={
                    "detail": detail(row.kind, row.payload),
                    "text": texts.get(ref_in(row.payload) or ""),
                }
            )
            for row in shown
        ],
        next_after=shown[-1].seq if more else None,
    )


@router.post(
    "/{incident_id}/evidence",
    response_model=Receipt,
    responses=WRITE_ERRORS,
    dependencies=[Depends(limit_writes)],
    summary="Add evidence (a new source counts towards verification)",
)
async def add_evidence(
    body: EvidenceIn,
    context: Context,
    principal: Annotated[Principal, Depends(require(Permission.EVIDENCE))],
    incident: AddressedIncident,
    idempotency_key: IdempotencyKey = None,
) -> Receipt:
    summary, ref = await carried(context.transactions, body.summary)
    evidence = EvidenceInput(
        source=body.source, summary=summary, actor=principal.name, summary_ref=ref
    )
    return await submit_once(
        context,
        principal,
        incident,
        "evidence",
        IncidentWorkflow.submit_evidence,
        evidence,
        body,
        idempotency_key,
    )


@router.post(
    "/{incident_id}/commitments",
    response_model=Receipt,
    responses=WRITE_ERRORS,
    dependencies=[Depends(limit_writes)],
    summary="An allied party commits assets, or declines",
)
async def add_commitment(
    body: CommitmentIn,
    context: Context,
    principal: Annotated[Principal, Depends(require(Permission.COMMIT))],
    incident: AddressedIncident,
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
    rationale, ref = await carried(context.transactions, body.rationale)
    commitment = CommitmentInput(
        party=party,
        answer=body.answer,
        assets=tuple(body.assets),
        actor=principal.name,
        rationale=rationale,
        rationale_ref=ref,
    )
    return await submit_once(
        context,
        principal,
        incident,
        "commitment",
        IncidentWorkflow.submit_commitment,
        commitment,
        body,
        idempotency_key,
    )


@router.post(
    "/{incident_id}/deployments",
    response_model=Receipt,
    responses=WRITE_ERRORS,
    dependencies=[Depends(limit_writes)],
    summary="After activation, a committed party reports assets deployed or withdrawn",
)
async def report_deployment(
    body: DeploymentIn,
    context: Context,
    principal: Annotated[Principal, Depends(require(Permission.COMMIT))],
    incident: AddressedIncident,
    idempotency_key: IdempotencyKey = None,
) -> Receipt:
    """An `ally:<party>` token reports for its own party only; a withdrawal that breaks the
    quorum escalates and calls the parties not committed for replacements."""
    party = body.party or principal.party
    if party != principal.party:
        raise ApiError(
            403,
            "forbidden",
            f"party: a token of {principal.party} cannot report for {party}",
            "party",
        )
    rationale, ref = await carried(context.transactions, body.rationale)
    report = DeploymentInput(
        party=party,
        status=body.status,
        assets=tuple(body.assets),
        actor=principal.name,
        rationale=rationale,
        rationale_ref=ref,
    )
    return await submit_once(
        context,
        principal,
        incident,
        "deployment",
        IncidentWorkflow.report_deployment,
        report,
        body,
        idempotency_key,
    )


@router.post(
    "/{incident_id}/acknowledgements",
    response_model=Receipt,
    responses=WRITE_ERRORS,
    dependencies=[Depends(limit_writes)],
    summary="Acknowledge an escalation notice for its whole audience: its repeats stop",
)
async def acknowledge(
    body: AcknowledgementIn,
    context: Context,
    principal: Annotated[Principal, Depends(require(Permission.DECIDE))],
    incident: AddressedIncident,
    idempotency_key: IdempotencyKey = None,
) -> Receipt:
    return await submit_once(
        context,
        principal,
        incident,
        "acknowledgement",
        IncidentWorkflow.acknowledge,
        AcknowledgeInput(notice_id=body.notice_id, actor=principal.name, via="api"),
        body,
        idempotency_key,
    )


@router.post(
    "/{incident_id}/decisions",
    response_model=Receipt,
    responses=WRITE_ERRORS,
    dependencies=[Depends(limit_writes)],
    summary="An operator decision: confirm, authorize, stand_down, reclassify, merge, "
    "correct_t0; terminate or review an active response",
)
async def decide(
    body: DecisionIn,
    context: Context,
    principal: Annotated[Principal, Depends(require(Permission.DECIDE))],
    incident: AddressedIncident,
    idempotency_key: IdempotencyKey = None,
) -> Receipt:
    """A ``merge`` names the incident that absorbs this one (``into``) and answers once that
    incident has taken it: this one then closes with the outcome ``merged``. A ``correct_t0``
    names the violation's corrected time (``observed_at``)."""
    if body.action is Action.MERGE and body.into is not None:
        await check_merge_target(context, incident, body.into)
    rationale, ref = await carried(context.transactions, body.rationale)
    decision = DecisionInput(
        action=body.action,
        actor=principal.name,
        rationale=rationale,
        new_kind=body.new_kind,
        rationale_ref=ref,
        into=body.into,
        observed_at=None if body.observed_at is None else body.observed_at.astimezone(UTC),
    )
    return await submit_once(
        context,
        principal,
        incident,
        "decision",
        IncidentWorkflow.submit_decision,
        decision,
        body,
        idempotency_key,
    )


@router.post(
    "/{incident_id}/notes",
    response_model=Receipt,
    responses=WRITE_ERRORS,
    dependencies=[Depends(limit_writes)],
    summary="The cell's journal: a note or a shift handover, in the ledger; it decides nothing",
)
async def add_note(
    body: NoteIn,
    context: Context,
    principal: Annotated[Principal, Depends(require(Permission.DECIDE))],
    incident: AddressedIncident,
    idempotency_key: IdempotencyKey = None,
) -> Receipt:
    text, ref = await carried(context.transactions, body.text)
    note = NoteInput(text=text, actor=principal.name, kind=body.kind, text_ref=ref)
    return await submit_once(
        context, principal, incident, "note", IncidentWorkflow.add_note, note, body, idempotency_key
    )
