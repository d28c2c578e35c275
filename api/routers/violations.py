"""POST /v1/violations: the crisis cell reports a violation; the plan's clock starts at T0."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.auth import Permission, require
from api.context import ApiContext, get_context
from api.errors import documented
from api.intake import receive_violation
from api.routes import AuthenticatedRoute
from api.schemas.violations import ViolationAccepted, ViolationIn
from db.tokens import Principal

router = APIRouter(prefix="/v1/violations", tags=["violations"], route_class=AuthenticatedRoute)


@router.post(
    "",
    status_code=202,
    response_model=ViolationAccepted,
    responses={
        200: {
            "model": ViolationAccepted,
            "description": "Already received with the same content: the same incident",
        },
        **documented(400, 401, 403, 409, 413, 422, 503),
    },
    summary="Report a violation (idempotent on report_id)",
)
async def report_violation(
    body: ViolationIn,
    context: Annotated[ApiContext, Depends(get_context)],
    principal: Annotated[Principal, Depends(require(Permission.REPORT))],
) -> JSONResponse:
    """Opens an incident and starts its response under the plan. Posting the same report again
    (same `report_id`, same content) is safe: `200` and the same incident. The same `report_id`
    with different content is refused with `409`. A report that reaches the cell after its
    response window has closed opens an incident closed at intake (`window_closed: true`): its
    deadlines are judged missed, and nothing is dispatched. With `joins`, the report joins
    that open response instead (another report of the same offensive): its sector, reporter and
    evidence are added, a violation observed before the response's T0 moves T0 earlier, and the
    answer names the incident joined (`joined: true`)."""
    intake = await receive_violation(context, body, principal)
    incident = intake.incident
    accepted = ViolationAccepted(
        incident_id=incident.id,
        workflow_id=incident.workflow_id,
        report_id=body.report_id,
        plan_id=incident.plan_id,
        kind=incident.kind,
        observed_at=incident.observed_at,
        reported_at=incident.reported_at,
        activation_deadline=incident.window_closes_at,
        window_closed=incident.window_closes_at < incident.reported_at,
        outcome=incident.outcome,
        created=intake.created,
        joined=intake.joined,
        sectors=list(incident.sectors or [incident.sector]),
        links={
            "incident": f"/v1/incidents/{incident.id}",
            "decisions": f"/v1/incidents/{incident.id}/decisions",
        },
    )
    return JSONResponse(
        accepted.model_dump(mode="json"),
        status_code=202 if intake.created else 200,
        headers={"Location": f"/v1/incidents/{incident.id}"},
    )
