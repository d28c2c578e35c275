"""Joining at intake over HTTP, on SQLite and PostgreSQL: a report that names an open incident
in `joins` adds its sector, reporter and evidence to that response; it is received once, and
a refused one leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from db.models import Report
from tests.api.conftest import report
from tests.api.test_submissions import open_incident


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


async def rows_of(sessions, report_id: str) -> list[Report]:
    async with sessions() as session:
        return list(await session.scalars(select(Report).where(Report.report_id == report_id)))


async def test_a_report_joins_an_open_response(dev_env, run_worker, api, tokens, sessions):
    reporter, reader = tokens.auth("reporter"), tokens.auth("observer")
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident = await open_incident(http, tokens, sector="Zaporizhzhia", observed_at=ago(2))
        body = report(sector="Kherson", reported_by="kherson-command", observed_at=ago(3))
        joined = await http.post(
            "/v1/violations", json={**body, "joins": incident}, headers=reporter
        )
        again = await http.post(
            "/v1/violations", json={**body, "joins": incident}, headers=reporter
        )
        changed = await http.post(
            "/v1/violations",
            json={**body, "joins": incident, "summary": "other words"},
            headers=reporter,
        )
        without = await http.post("/v1/violations", json=body, headers=reporter)
        detail = (await http.get(f"/v1/incidents/{incident}", headers=reader)).json()
        listed = (await http.get("/v1/incidents?status=open", headers=reader)).json()
        ledger = (await http.get(f"/v1/incidents/{incident}/decisions", headers=reader)).json()

    assert joined.status_code == 202, joined.text
    answer = joined.json()
    assert answer["incident_id"] == incident and answer["joined"] is True
    assert answer["report_id"] == body["report_id"] and answer["created"] is True
    assert answer["sectors"] == ["Zaporizhzhia", "Kherson"]
    assert again.status_code == 200 and again.json()["incident_id"] == incident
    assert again.json()["created"] is False
    assert changed.status_code == 409 and changed.json()["field"] == "report_id"
    assert without.status_code == 409 and without.json()["field"] == "report_id", without.text
    assert detail["sectors"] == ["Zaporizhzhia", "Kherson"] and detail["reports"] == 2
    assert detail["verification"] == "verified"  # two reporters, two sources
    # Observed an hour before the first report's T0: the response's T0 moved there.
    t0 = datetime.fromisoformat(detail["t0"])
    assert abs((datetime.now(UTC) - t0) - timedelta(hours=3)) < timedelta(minutes=5)
    row = next(i for i in listed["incidents"] if i["incident_id"] == incident)
    assert row["sectors"] == ["Zaporizhzhia", "Kherson"] and row["t0"] == detail["t0"]
    joined_rows = [r for r in ledger["decisions"] if r["kind"] == "report_joined"]
    assert len(joined_rows) == 1 and joined_rows[0]["payload"]["sector"] == "Kherson"
    assert joined_rows[0]["actor"] == tokens.names["reporter"]
    assert ledger["chain"]["intact"] is True
    (stored,) = await rows_of(sessions, body["report_id"])
    assert stored.incident_id == incident and stored.joined and stored.sector == "Kherson"
    (first,) = await rows_of(sessions, detail["report_id"])
    assert first.incident_id == incident and not first.joined


async def test_a_refused_join_leaves_no_report(dev_env, run_worker, api, tokens, sessions):
    reporter = tokens.auth("reporter")
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident = await open_incident(http, tokens)
        unknown = report(joins="nowhere-00000000")
        missing = await http.post("/v1/violations", json=unknown, headers=reporter)
        drill = await http.post(
            "/v1/violations", json=report(joins="exercise-kharkiv-00000000"), headers=reporter
        )
        other_plan = await http.post(
            "/v1/violations",
            json=report(joins=incident, plan_id="regional-48h", kind="border_provocation"),
            headers=reporter,
        )
        bad_sector = report(joins=incident, sector="Kher\u0007son")
        control = await http.post("/v1/violations", json=bad_sector, headers=reporter)
        await http.post(
            f"/v1/incidents/{incident}/decisions",
            json={"action": "stand_down", "rationale": "false alarm"},
            headers=tokens.auth("operator"),
        )
        late = report(joins=incident, sector="Kherson")
        closed = await http.post("/v1/violations", json=late, headers=reporter)
        anonymous = await http.post("/v1/violations", json=report(joins=incident))
        ally = await http.post(
            "/v1/violations", json=report(joins=incident), headers=tokens.auth("ally:uk")
        )

    assert missing.status_code == 404 and missing.json()["field"] == "joins", missing.text
    assert drill.status_code == 404 and drill.json()["field"] == "joins"
    assert other_plan.status_code == 409 and other_plan.json()["field"] == "plan_id", (
        other_plan.text
    )
    assert control.status_code == 422 and control.json()["field"] == "sector", control.text
    assert closed.status_code == 409, closed.text
    assert anonymous.status_code == 401 and ally.status_code == 403
    for body in (unknown, bad_sector, late):
        assert await rows_of(sessions, body["report_id"]) == []
