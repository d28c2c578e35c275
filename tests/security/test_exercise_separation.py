"""Exercise incidents and real ones never mix: each is reachable only in its own world."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select

from db.models import LedgerDecision
from plans.loader import get_plan
from tests.api.conftest import Tokens, report
from workflows.incident import IncidentWorkflow
from workflows.messages import Evidence, ViolationReport
from workflows.starting import build_input, start_incident


async def test_exercise_and_real_incidents_are_kept_apart(
    ts_env, run_worker, api, tokens, sessions, task_queue
):
    async with run_worker(ts_env.client), api(ts_env.client, clock=ts_env.get_current_time) as http:
        now = await ts_env.get_current_time()
        drill = ViolationReport(
            report_id=f"drill-{uuid.uuid4().hex}", kind="ceasefire_breach", sector="Zaporizhzhia",
            reported_by="exercise-control", observed_at=now, reported_at=now, evidence=(Evidence("umpire"),),
        )  # fmt: skip
        exercise = build_input(drill, get_plan(), exercise=True)
        drill_handle = await start_incident(ts_env.client, exercise, task_queue, now=now)
        opened = await http.post("/v1/violations", json=report(), headers=tokens.auth("reporter"))
        real_handle = ts_env.client.get_workflow_handle(opened.json()["workflow_id"])
        try:
            await drill_handle.query(IncidentWorkflow.state)
            await wait_for_ledger(sessions, exercise.incident_id)
            await check_separation(http, tokens, exercise.incident_id, opened.json()["incident_id"])
        finally:
            # The time-skipping server is shared by the whole session: leave nothing running on it.
            for handle in (drill_handle, real_handle):
                await handle.terminate("test over")


async def wait_for_ledger(sessions, incident_id: str) -> None:
    for _ in range(200):  # the ledger activity writes the incident row
        async with sessions() as session:
            if await session.scalar(
                select(LedgerDecision.id).where(LedgerDecision.incident_id == incident_id)
            ):
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{incident_id} never reached the ledger")


async def check_separation(http: httpx.AsyncClient, tokens: Tokens, drill: str, real: str) -> None:
    reader, reporter = tokens.auth("observer"), tokens.auth("reporter")
    for path in [f"/v1/incidents/{drill}{tail}" for tail in ("", "/decisions", "/ledger/verify")]:
        hidden = await http.get(path, headers=reader)
        assert hidden.status_code == 404, (path, hidden.text)
        assert hidden.json()["field"] == "incident_id"
        assert (
            await http.get(path, params={"exercise": "true"}, headers=reader)
        ).status_code == 200, path
    sneaked = await http.post(
        f"/v1/incidents/{drill}/evidence", json={"source": "spy", "summary": "x"}, headers=reporter
    )
    assert sneaked.status_code == 404
    assert (
        await http.get(f"/v1/incidents/{real}", params={"exercise": "true"}, headers=reader)
    ).status_code == 404
    assert (await http.get(f"/v1/incidents/{real}", headers=reader)).status_code == 200
    listed = (await http.get("/v1/incidents", headers=reader)).json()
    ids = [i["incident_id"] for i in listed["incidents"]]
    assert real in ids and drill not in ids
