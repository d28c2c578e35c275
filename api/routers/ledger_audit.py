"""GET /v1/incidents/{id}/ledger/verify: the ledger audit of ``contingency ledger verify``, over
HTTP: the hash chain, the incident row against its sealed report, and the heads against the
workflow Temporal keeps for the incident id; one verdict (``db.audit.Verdict``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends

from api.auth import Permission, require
from api.context import ApiContext, get_context
from api.errors import documented
from api.routes import AuthenticatedRoute
from api.schemas.incidents import LedgerVerdict
from api.updates import AddressedIncident
from db.audit import audit_incident
from db.tokens import Principal

router = APIRouter(prefix="/v1/incidents", tags=["ledger"], route_class=AuthenticatedRoute)


class LedgerVerification(LedgerVerdict):
    incident_id: str
    workflow_id: str


@router.get(
    "/{incident_id}/ledger/verify",
    response_model=LedgerVerification,
    responses=documented(401, 403, 404, 422),
    summary="Verify the incident's ledger: hash chain, incident row, and against the workflow",
)
async def verify_ledger(
    context: Annotated[ApiContext, Depends(get_context)],
    _: Annotated[Principal, Depends(require(Permission.READ))],
    incident: AddressedIncident,
) -> LedgerVerification:
    """`verdict` says what the audit found (`intact`, `broken`, `unanchored`, `beyond_retention`,
    `vanished`, `terminated`, `forked`) and `summary` says it in one line; a broken ledger names
    its first altered, removed or inserted row. The answer is 200 whatever the verdict: it is a
    finding of the audit, not an error of the request."""
    audit = await audit_incident(context.sessions, incident, context.client)
    return LedgerVerification.model_validate(asdict(audit))
