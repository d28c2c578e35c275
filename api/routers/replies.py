"""The pages behind a message's signed link: one party answers the consultation, or one
recipient acknowledges an escalation notice for its whole audience.

A link is ``/r/<token>`` (foundation/links.py): the token names the incident, the audience and
the notice, signed with the engine's link secret, so the page needs no sign-in and serves only
that party or that notice. Mail security scanners fetch every link in a message: opening one
(GET) never changes anything; only the page's form (POST) answers or acknowledges, through the
same workflow update and validators as the API. A link is valid until its incident closes.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse

from api.context import ApiContext, get_context
from api.errors import ApiError
from api.ratelimit import limit_sign_in
from api.routers.board import foreign_origin, render
from api.schemas.common import RequestModel
from api.updates import submit_once
from db.models import Incident
from db.repository import IncidentRepository
from db.tokens import Principal
from foundation.ids import is_exercise_id
from foundation.links import MAX_TOKEN_CHARS, LinkClaim, read_link
from plans.loader import get_plan
from workflows.incident import IncidentWorkflow
from workflows.lookup import look_up
from workflows.messages import AcknowledgeInput, Answer, CommitmentInput, IncidentView, Phase
from workflows.notices import audience_party

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/r", include_in_schema=False)
Context = Annotated[ApiContext, Depends(get_context)]
Token = Annotated[str, Path(max_length=MAX_TOKEN_CHARS)]
MAX_FORM_BYTES = 4096


class _LinkAnswer(RequestModel):
    """The form's content as the idempotency table binds it: the same click twice is one answer."""

    action: str
    assets: list[str]


class _LinkAck(RequestModel):
    notice_id: str


def _page(status: int = 200, **values: Any) -> HTMLResponse:
    response = render("reply.html", status=status, **values)
    # The token is in the path: no other site learns it from a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _invalid() -> HTMLResponse:
    return _page(404, state="invalid", message="This link is not valid.")


async def _claimed(context: ApiContext, token: str) -> tuple[LinkClaim, Incident] | None:
    claim = read_link(context.settings.link_secret_bytes(), token)
    if claim is None or (claim.purpose == "answer" and audience_party(claim.audience) is None):
        return None
    async with context.sessions() as session:
        incident = await IncidentRepository(session).get(claim.incident_id)
    if incident is None or incident.exercise != is_exercise_id(incident.id):
        return None
    return claim, incident


async def _view(context: ApiContext, incident: Incident) -> IncidentView | None:
    try:
        found = await look_up(context.client, incident.id)
    except Exception:  # Temporal away: the page says so rather than failing
        log.warning("reply.lookup_failed", incident_id=incident.id, exc_info=True)
        return None
    return None if found is None else found.view


@router.get("/{token}", response_class=HTMLResponse)
async def open_link(token: Token, context: Context) -> HTMLResponse:
    claimed = await _claimed(context, token)
    if claimed is None:
        return _invalid()
    claim, incident = claimed
    view = await _view(context, incident)
    return _show(claim, incident, view)


def _show(
    claim: LinkClaim,
    incident: Incident,
    view: IncidentView | None,
    *,
    message: str = "",
    status: int = 200,
) -> HTMLResponse:
    party = audience_party(claim.audience)
    values: dict[str, Any] = {
        "claim": claim,
        "incident": incident,
        "view": view,
        "party": party,
        "message": message,
        "refused": status >= 400,
    }
    if view is None:
        return _page(503, state="unavailable", **values)
    if view.phase is Phase.CLOSED:  # an active response still takes replacements' answers
        return _page(410, state="closed", **values)
    if claim.purpose == "ack":
        awaited = next((a for a in view.awaiting_ack if a.notice_id == claim.notice_id), None)
        state = "acknowledged" if awaited is None else "ack"
        return _page(status, state=state, awaited=awaited, **values)
    current = next((c for c in view.commitments if c.party == party), None)
    consultation = next((d for d in view.deadlines if d.name == "consultation"), None)
    return _page(
        status,
        state="answer",
        current=current,
        consultation=consultation,
        assets=incident_assets(view),
        **values,
    )


def incident_assets(view: IncidentView) -> tuple[str, ...]:
    """The assets a party may offer: the plan's (the workflow refuses any other), those the
    quorum requires first."""
    try:
        offered = get_plan(view.plan_id).assets
    except KeyError:
        offered = ()
    return tuple(dict.fromkeys(view.quorum.required_assets + offered))


@router.post("/{token}", response_class=HTMLResponse, dependencies=[Depends(limit_sign_in)])
async def act_on_link(token: Token, request: Request, context: Context) -> HTMLResponse:
    claimed = await _claimed(context, token)
    if claimed is None:
        return _invalid()
    claim, incident = claimed
    if (origin := foreign_origin(request)) is not None:
        return _page(
            403, state="invalid", message=f"Answer from this page, not from {origin[:100]}."
        )
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return _page(413, state="invalid", message="The form is too large.")
    form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=50)
    # The link is the credential: its audience is who acts, and the key binds one click.
    principal = Principal(name=f"link:{claim.audience}", role="link")
    key = hashlib.sha256(token.encode() + b"\0" + body).hexdigest()[:40]
    try:
        if claim.purpose == "ack":
            await submit_once(
                context,
                principal,
                incident,
                "acknowledgement",
                IncidentWorkflow.acknowledge,
                AcknowledgeInput(notice_id=claim.notice_id, actor=claim.audience, via="link"),
                _LinkAck(notice_id=claim.notice_id),
                key,
            )
            message = "Acknowledged, for everyone this notice was sent to. Thank you."
        else:
            action = (form.get("action") or [""])[0]
            assets = sorted(set(form.get("assets") or []))
            party = audience_party(claim.audience)
            assert party is not None  # _claimed checked
            if action not in ("commit", "decline"):
                raise ApiError(422, "invalid", "action: commit or decline", "action")
            await submit_once(
                context,
                principal,
                incident,
                "commitment",
                IncidentWorkflow.submit_commitment,
                CommitmentInput(
                    party=party,
                    answer=Answer(action),
                    assets=tuple(assets) if action == "commit" else (),
                    actor=f"{party} (reply link)",
                ),
                _LinkAnswer(action=action, assets=assets),
                key,
            )
            message = (
                f"Recorded: {party} commits {', '.join(assets)}."
                if action == "commit"
                else f"Recorded: {party} declines."
            )
    except ApiError as refused:
        view = await _view(context, incident)
        return _show(claim, incident, view, message=refused.message, status=refused.status)
    log.info(
        "reply.accepted", incident_id=incident.id, audience=claim.audience, purpose=claim.purpose
    )
    view = await _view(context, incident)
    return _show(claim, incident, view, message=message)
