"""Authentication comes before anything else: without a valid token every route answers 401,
whatever the id, the query or the body, so nothing about an incident (that it exists, in which
world) leaks to a caller who has not signed in."""

from __future__ import annotations

import re
import socket
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.routing import APIRoute
from temporalio.client import Client

from api.app import create_app
from db.models import Incident
from db.repository import row_values
from plans.loader import get_plan
from workflows.messages import ViolationReport
from workflows.starting import build_input
from workflows.state import IncidentState

# Routes anyone may call: probes, metrics, the API's own description, the board's sign-in, and
# the pages behind a message's signed link (the signed token in the path is the credential:
# tests/api/test_replies.py refuses an altered one).
OPEN = {"/healthz", "/readyz", "/metrics", "/board/login", "/board/logout", "/r/{token}"}
BOARD_DATA = {"/board/rows", "/board/incidents.json"}


async def stored_incident(sessions, *, exercise: bool) -> str:
    now = datetime.now(UTC)
    report = ViolationReport(
        report_id=f"auth-{uuid.uuid4().hex}", kind="ceasefire_breach", sector="Kherson",
        reported_by="ua-general-staff", observed_at=now, reported_at=now,
    )  # fmt: skip
    snapshot = IncidentState(build_input(report, get_plan(), exercise=exercise), now).snapshot()
    async with sessions() as session, session.begin():
        session.add(Incident(**row_values(snapshot)))
    return snapshot.incident_id


def every_route(routes) -> list[APIRoute]:
    """The app's routes, those of its included routers too."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # FastAPI's included router
            found += every_route(route.original_router.routes)
    return found


@pytest.fixture
async def unreachable_temporal() -> Client:
    """Nothing may ask Temporal before the caller is authenticated: nothing listens here."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return await Client.connect(f"127.0.0.1:{port}", lazy=True)


async def test_every_route_without_a_token_is_401_whatever_the_id(
    settings, sessions, unreachable_temporal
):
    real = await stored_incident(sessions, exercise=False)
    drill = await stored_incident(sessions, exercise=True)
    app = create_app(settings, client=unreachable_temporal, sessions=sessions)
    routes = [
        (method, route.path)
        for route in every_route(app.routes)
        if route.path not in OPEN
        for method in sorted(route.methods)
    ]
    assert len(routes) >= 15
    ids = [real, drill, "made-up-12345678", "NOT_AN_ID", "x" * 300]
    queries = [{}, {"exercise": "true"}, {"exercise": "perhaps"}, {"no_such_param": "1"}]
    bodies = [None, b"{not json", b'{"report_id": 1}']
    seen = 0
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test", timeout=10
    ) as http:
        for method, template in routes:
            for incident_id in ids if "{" in template else ids[:1]:
                path = re.sub(r"\{[a-z_]+\}", incident_id, template)
                for query in queries:
                    for body in bodies if method == "POST" else [None]:
                        for headers in ({}, {"Authorization": "Bearer ct_not-a-token"}):
                            response = await http.request(
                                method,
                                path,
                                params=query,
                                content=body,
                                headers={**headers, "Content-Type": "application/json"},
                            )
                            seen += 1
                            where = (method, path, query, body, headers)
                            assert response.status_code == 401, (where, response.text[:300])
                            if template.startswith("/v1") or template in BOARD_DATA:
                                assert response.json()["field"] == "Authorization", where
                            else:  # a board page: the sign-in form, still a 401
                                assert 'name="token"' in response.text, where
    assert seen > 500
