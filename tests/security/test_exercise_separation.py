"""Exercise incidents and real ones never mix: each is reachable only in its own world."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select, update

from db.models import Incident, LedgerDecision
from exercises.runner import exercise_worker, temporary_database
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


async def test_a_real_report_cannot_reach_a_live_exercise_on_its_own_ledger(
    ts_env, run_worker, api, tokens, sessions
):
    """A live exercise on the stack's Temporal keeps its ledger elsewhere (the default temporary
    one): the stack's database has no row for it. A real report that reuses its report id with a
    sector reading "Exercise ..." used to get the exercise's very id, adopt its running workflow,
    and let an operator stand the exercise down through the real endpoints."""
    drill_queue = f"drill-{uuid.uuid4().hex[:8]}"
    async with temporary_database() as drill_ledger:
        async with (
            exercise_worker(ts_env.client, drill_ledger, drill_queue),
            run_worker(ts_env.client),
            api(ts_env.client, clock=ts_env.get_current_time) as http,
        ):
            now = await ts_env.get_current_time()
            drill = ViolationReport(
                report_id=f"drill-{uuid.uuid4().hex}", kind="ceasefire_breach", sector="Kharkiv",
                reported_by="exercise-control", observed_at=now, reported_at=now,
            )  # fmt: skip
            exercise = build_input(drill, get_plan(), exercise=True)
            drill_handle = await start_incident(ts_env.client, exercise, drill_queue, now=now)
            opened = await http.post(
                "/v1/violations",
                json=report(report_id=drill.report_id, sector="EXERCISE Kharkiv"),
                headers=tokens.auth("reporter"),
            )
            assert opened.status_code == 202, opened.text
            real = opened.json()["incident_id"]
            real_handle = ts_env.client.get_workflow_handle(opened.json()["workflow_id"])
            try:
                stood_down = await http.post(
                    f"/v1/incidents/{exercise.incident_id}/decisions",
                    json={"action": "stand_down", "rationale": "looks like noise"},
                    headers=tokens.auth("operator"),
                )
                assert stood_down.status_code == 404, stood_down.text
                state = await drill_handle.query(IncidentWorkflow.state)
                assert state.outcome is None and state.exercise
                assert real == f"real-{exercise.incident_id}"
                assert await http.get(f"/v1/incidents/{real}", headers=tokens.auth("observer"))
            finally:
                for handle in (drill_handle, real_handle):
                    await handle.terminate("test over")


async def test_a_flipped_exercise_column_moves_no_incident_between_worlds(
    ts_env, run_worker, api, tokens, sessions, task_queue
):
    """The world is the id's: ``incidents.exercise`` edited either way hides nothing and exposes
    nothing, in the reads, the list and the board."""
    async with run_worker(ts_env.client), api(ts_env.client, clock=ts_env.get_current_time) as http:
        now = await ts_env.get_current_time()
        drill = ViolationReport(
            report_id=f"drill-{uuid.uuid4().hex}", kind="ceasefire_breach", sector="Zaporizhzhia",
            reported_by="exercise-control", observed_at=now, reported_at=now,
        )  # fmt: skip
        exercise = build_input(drill, get_plan(), exercise=True)
        drill_handle = await start_incident(ts_env.client, exercise, task_queue, now=now)
        opened = await http.post("/v1/violations", json=report(), headers=tokens.auth("reporter"))
        real = opened.json()["incident_id"]
        real_handle = ts_env.client.get_workflow_handle(opened.json()["workflow_id"])
        try:
            await wait_for_ledger(sessions, exercise.incident_id)
            async with sessions() as session, session.begin():
                for incident_id, flipped in ((exercise.incident_id, False), (real, True)):
                    await session.execute(
                        update(Incident).where(Incident.id == incident_id).values(exercise=flipped)
                    )
            await check_separation(http, tokens, exercise.incident_id, real)
            board = await http.get("/board/incidents.json", headers=tokens.auth("observer"))
            assert [i["incident_id"] for i in board.json()["incidents"]].count(real) == 1
            drills = await http.get(
                "/board/incidents.json",
                params={"exercise": "true"},
                headers=tokens.auth("observer"),
            )
            assert real not in [i["incident_id"] for i in drills.json()["incidents"]]
            reused = await http.post(
                "/v1/violations",
                json=report(report_id=drill.report_id),
                headers=tokens.auth("reporter"),
            )
            assert reused.status_code == 409 and reused.json()["field"] == "report_id"
        finally:
            for handle in (drill_handle, real_handle):
                await handle.terminate("test over")
