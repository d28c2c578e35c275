"""GET /v1/incidents/{id}/ledger/verify: the ledger audit of ``contingency ledger verify``,
over HTTP: the hash chain, the outcome present, and every row against the workflow's decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.auth import Permission, require
from api.context import ApiContext, get_context
from api.errors import documented
from api.schemas.common import IncidentId
from api.updates import InSameWorld, not_found
from db.audit import audit_incident, find_incident
from db.tokens import Principal

router = APIRouter(prefix="/v1/incidents", tags=["ledger"])


class LedgerVerification(BaseModel):
    incident_id: str
    workflow_id: str
    rows: int = Field(description="Ledger rows of the incident")
    intact: bool
    broken_at_seq: int | None = Field(default=None, description="The first row found broken")
    problem: str | None = Field(default=None, description="Altered, removed or inserted, and how")
    checked_against_workflow: bool = Field(
        description="Rows also compared with the decisions the workflow itself took"
    )


@router.get(
    "/{incident_id}/ledger/verify",
    dependencies=[InSameWorld],
    response_model=LedgerVerification,
    responses=documented(401, 403, 404, 422),
    summary="Verify the incident's ledger: hash chain, outcome, and against the workflow",
)
async def verify_ledger(
    incident_id: Annotated[IncidentId, Path(description="The incident id")],
    context: Annotated[ApiContext, Depends(get_context)],
    _: Annotated[Principal, Depends(require(Permission.READ))],
) -> LedgerVerification:
    """`intact: false` names the first altered, removed or inserted row. The answer is 200 either
    way: a broken ledger is a finding of the audit, not an error of the request."""
    incident = await find_incident(context.sessions, incident_id)
    if incident is None:
        raise not_found(incident_id)
    audit = await audit_incident(context.sessions, incident, context.client)
    return LedgerVerification(
        incident_id=audit.incident_id,
        workflow_id=audit.workflow_id,
        rows=audit.rows,
        intact=audit.intact,
        broken_at_seq=audit.broken_at_seq,
        problem=audit.problem,
        checked_against_workflow=audit.checked_against_workflow,
    )
