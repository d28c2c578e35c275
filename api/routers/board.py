"""The situation board: server-rendered pages for the crisis room's wall, no build step.

Authentication. A browser cannot attach a bearer header to a page load, so the board trades an
API token (any role: the board only reads) for an HttpOnly, SameSite=Strict cookie scoped to
``/board``: sign in with the form at ``/board/login`` (the token travels in a POST body), or, for
a wall display configured by URL, open ``/board/login?token=...`` once — it redirects to the board
at once so the token leaves the address bar, and the logs mask ``token=`` values. The cookie holds
the token itself, so revoking the token (``contingency tokens revoke``) signs the display out.
Scripts may send ``Authorization: Bearer`` instead of the cookie.

Exercise incidents never share a page with real ones: ``/board`` shows real incidents only,
``/board/exercises`` exercises only, under a banner.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from api.auth import Permission, permissions_of
from api.board_view import BOARD_BUDGET, Board, open_board, timeline_page
from api.context import ApiContext, get_context
from api.errors import error_response
from api.ratelimit import limit_sign_in
from api.routes import authenticated_first
from api.schemas.common import IncidentId
from db.tokens import Principal, authenticate
from workflows.decisions import detail


async def _signed_in_first(request: Request) -> None:
    await viewer(request, get_context(request))


# Every page and data route signs the viewer in before anything else; only signing in and out
# are open.
router = APIRouter(
    prefix="/board",
    include_in_schema=False,
    route_class=authenticated_first(
        _signed_in_first, open_paths=frozenset({"/board/login", "/board/logout"})
    ),
)

COOKIE = "contingency_board"
COOKIE_MAX_AGE = 12 * 3600
REFRESH_SECONDS = 5
Context = Annotated[ApiContext, Depends(get_context)]


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _utc(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


templates = Environment(
    loader=PackageLoader("api", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals["budget_seconds"] = round(BOARD_BUDGET.total_seconds())
templates.filters["iso"] = _iso
templates.filters["utc"] = _utc
# What a decision (a timeline entry or a ledger row) decided, in words.
templates.filters["decided"] = lambda d: detail(d.kind, d.payload)


def render(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = templates.get_template(name).render(refresh_seconds=REFRESH_SECONDS, **values)
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            # Inline script and style only; nothing loads from anywhere else.
            "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline' 'self'; "
            "style-src 'unsafe-inline'; frame-ancestors 'none'",
            # Nothing leaves for another origin; the board's own form posts keep their Origin
            # (under no-referrer a browser sends "Origin: null", which the sign-in refuses).
            "Referrer-Policy": "same-origin",
        },
    )


class SignInRequired(Exception):
    def __init__(self, wanted: str, message: str = "") -> None:
        self.wanted = wanted
        self.message = message


def _presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


async def viewer(request: Request, context: Context) -> Principal:
    """The principal behind the board's cookie (or bearer header), with read permission."""
    known: Principal | None = getattr(request.state, "viewer", None)
    if known is not None:
        return known
    secret = _presented_token(request)
    principal = await authenticate(context.transactions, secret) if secret else None
    if principal is None or Permission.READ not in permissions_of(principal):
        raise SignInRequired(
            request.url.path,
            "" if secret is None else "That token is unknown or has been revoked.",
        )
    request.state.viewer = principal
    return principal


Viewer = Annotated[Principal, Depends(viewer)]


def safe_next(target: str | None) -> str:
    """Only a board page: never an absolute or protocol-relative URL (no open redirect)."""
    if (
        target
        and target.startswith("/board")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return "/board"


def login_page(wanted: str, message: str = "", status: int = 401) -> HTMLResponse:
    return render("board_login.html", status=status, next=safe_next(wanted), message=message)


async def _sign_in(request: Request, context: ApiContext, token: str, target: str) -> Response:
    limit_sign_in(request)
    principal = await authenticate(context.transactions, token.strip()) if token else None
    if principal is None:
        return login_page(target, "That token is unknown or has been revoked.")
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        max_age=COOKIE_MAX_AGE,
        path="/board",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login")
async def login_form(
    request: Request,
    context: Context,
    token: Annotated[str | None, Query(max_length=200)] = None,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    if token is not None:
        return await _sign_in(request, context, token, next or "/board")
    return login_page(next or "/board", status=200)


def foreign_origin(request: Request) -> str | None:
    """The other site a browser says this post comes from (Origin, else Referer), or None.

    A browser always names the origin of a cross-site form post; a request that names none comes
    from a script, which needs no protection from itself."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return None
    if claimed == "null" or urlsplit(claimed).netloc.lower() != request.url.netloc.lower():
        return claimed
    return None


@router.post("/login")
async def login_submit(request: Request, context: Context) -> Response:
    # Login CSRF: another site must not sign this browser in, with a token of its choosing.
    if (origin := foreign_origin(request)) is not None:
        return login_page(
            "/board",
            f"Sign in from this board's own page, not from {origin[:100]}.",
            status=403,
        )
    # A plain form post, parsed here: the board needs no multipart support.
    body = await request.body()
    form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    token = (form.get("token") or [""])[0]
    return await _sign_in(request, context, token, (form.get("next") or ["/board"])[0])


@router.api_route("/logout", methods=["GET", "POST"])
async def logout() -> Response:
    response = RedirectResponse("/board/login", status_code=303)
    response.delete_cookie(COOKIE, path="/board")
    return response


def _board_page(board: Board, principal: Principal) -> HTMLResponse:
    return render("board.html", board=board, viewer=principal, as_of=board.as_of)


@router.get("")
async def real_board(context: Context, principal: Viewer) -> HTMLResponse:
    return _board_page(await open_board(context, exercise=False), principal)


@router.get("/exercises")
async def exercise_board(context: Context, principal: Viewer) -> HTMLResponse:
    return _board_page(await open_board(context, exercise=True), principal)


@router.get("/rows")
async def board_rows(
    context: Context, _: Viewer, exercise: Annotated[bool, Query()] = False
) -> HTMLResponse:
    """The table body alone, which the page polls to refresh itself."""
    return render("board_rows.html", board=await open_board(context, exercise=exercise))


@router.get("/incidents.json")
async def board_json(
    context: Context, _: Viewer, exercise: Annotated[bool, Query()] = False
) -> JSONResponse:
    board = await open_board(context, exercise=exercise)
    return JSONResponse(
        {
            "exercise": board.exercise,
            "as_of": _iso(board.as_of),
            # Temporal missed the board's time budget: the rows not "live" are the read side's.
            "temporal_late": board.temporal_late,
            "incidents": [
                {
                    "incident_id": row.incident_id,
                    "workflow_id": row.workflow_id,
                    "kind": row.kind,
                    "sector": row.sector,
                    "phase": row.phase,
                    "awaiting": row.awaiting,
                    "escalation_level": row.escalation_level,
                    "t0": _iso(row.t0),
                    "window_closes_at": _iso(row.window.due_at),
                    "next_deadline": None
                    if row.next_deadline is None
                    else {
                        "label": row.next_deadline.label,
                        "due_at": _iso(row.next_deadline.due_at),
                    },
                    "quorum": None
                    if row.committed is None
                    else {
                        "committed": row.committed,
                        "needed": row.quorum_needed,
                        "holds": row.quorum_holds,
                    },
                    "live": row.live,
                    "ledger_problem": row.ledger_problem,
                    "ui_url": row.ui_url,
                    "timeline_url": row.timeline_url,
                }
                for row in board.rows
            ],
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/incidents/{incident_id}")
async def incident_timeline(
    incident_id: IncidentId, context: Context, principal: Viewer
) -> HTMLResponse:
    page = await timeline_page(context, incident_id)
    if page is None:
        return render("board_missing.html", status=404, incident_id=incident_id)
    return render("board_incident.html", page=page, viewer=principal, as_of=page.as_of)


def install(app: FastAPI) -> None:
    """The board's routes, and its answer to a missing sign-in: the login page for a page,
    the API's JSON 401 for the data endpoints a script or the page's refresh calls."""
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _sign_in_required(request: Request, exc: SignInRequired) -> Response:
        if request.url.path in ("/board/rows", "/board/incidents.json"):
            return error_response(
                401,
                "unauthenticated",
                "Authorization: a board cookie or a bearer token is required",
                "Authorization",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return login_page(exc.wanted, exc.message)
