"""With Temporal down the board still answers at once: everything it asks Temporal shares one
time budget, and the rows Temporal did not answer for come from the read side, saying so."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.board_view import BOARD_BUDGET
from db.models import Incident
from db.repository import row_values
from plans.loader import get_plan
from workflows.messages import ViolationReport
from workflows.starting import build_input
from workflows.state import IncidentState

OPEN_INCIDENTS = 30  # three rounds of the board's ten concurrent asks


@pytest.fixture
async def silent_temporal() -> AsyncIterator[Client]:
    """A client of a "server" that accepts connections and never answers: a hung or partitioned
    Temporal, the worst case for a caller (a refused connection at least fails fast)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await Client.connect(f"127.0.0.1:{port}", lazy=True)
    yield client
    for writer in held:
        writer.close()
    server.close()


async def open_incidents(sessions, count: int) -> list[str]:
    now = datetime.now(UTC)
    ids = []
    async with sessions() as session, session.begin():
        for n in range(count):
            report = ViolationReport(
                report_id=f"budget-{uuid.uuid4().hex}", kind="large_scale_offensive",
                sector=f"Sector {n}", reported_by="ua-general-staff",
                observed_at=now - timedelta(minutes=n), reported_at=now,
            )  # fmt: skip
            snapshot = IncidentState(build_input(report, get_plan()), now).snapshot()
            session.add(Incident(**row_values(snapshot)))
            ids.append(snapshot.incident_id)
    return ids


async def test_the_board_answers_within_its_budget_when_temporal_does_not(
    settings, sessions, tokens, silent_temporal
):
    ids = await open_incidents(sessions, OPEN_INCIDENTS)
    app = create_app(settings, client=silent_temporal, sessions=sessions)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://board.test", timeout=60
    ) as http:
        started = time.perf_counter()
        page = await http.get("/board", headers=tokens.auth("observer"))
        took = time.perf_counter() - started
        data = await http.get("/board/incidents.json", headers=tokens.auth("observer"))
    assert page.status_code == 200, page.text
    assert took < BOARD_BUDGET.total_seconds() + 1.5, f"the board took {took:.1f} s"
    assert all(f'data-incident="{incident}"' in page.text for incident in ids)
    assert f"Temporal did not answer within {BOARD_BUDGET.seconds} s" in page.text
    assert "rows from the read side (the database)" in page.text
    listed = data.json()
    assert listed["temporal_late"] is True
    assert {row["incident_id"] for row in listed["incidents"]} >= set(ids)
    assert not any(row["live"] for row in listed["incidents"])
