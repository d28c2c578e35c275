"""Suggested relations over HTTP, the board and the CLI: open incidents of the same plan whose
T0 lie within the plan's window (allied-72h: 24 h), nearest first; never closed ones, never
imposed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.test_submissions import open_incident


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


async def test_reports_close_in_time_are_suggested_as_related(dev_env, run_worker, api, tokens):
    reader = tokens.auth("observer")
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        first = await open_incident(http, tokens, sector="Zaporizhzhia", observed_at=ago(2))
        second = await open_incident(http, tokens, sector="Kherson", observed_at=ago(6))
        third = await open_incident(http, tokens, sector="Donetsk", observed_at=ago(20))
        far = await open_incident(http, tokens, sector="Kharkiv", observed_at=ago(40))
        ended = await open_incident(http, tokens, sector="Sumy", observed_at=ago(3))
        stood_down = await http.post(
            f"/v1/incidents/{ended}/decisions",
            json={"action": "stand_down", "rationale": "false alarm"},
            headers=tokens.auth("operator"),
        )
        answer = await http.get(f"/v1/incidents/{first}/related", headers=reader)
        from_far = await http.get(f"/v1/incidents/{far}/related", headers=reader)
        board = await http.get(f"/board/incidents/{first}", headers=reader)
        missing = await http.get("/v1/incidents/nowhere-00000000/related", headers=reader)
        anonymous = await http.get(f"/v1/incidents/{first}/related")

    assert stood_down.status_code == 200, stood_down.text
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["within_hours"] == 24 and body["plan_id"] == "allied-72h"
    related = [r["incident_id"] for r in body["related"]]
    assert second in related and third in related
    assert related.index(second) < related.index(third)  # nearest T0 first
    assert first not in related and far not in related and ended not in related
    apart = {r["incident_id"]: r["t0_apart_hours"] for r in body["related"]}
    assert abs(apart[second] + 4) < 0.1 and abs(apart[third] + 18) < 0.1
    assert all(r["same_plan_version"] for r in body["related"])
    seen_from_far = [r["incident_id"] for r in from_far.json()["related"]]
    assert third in seen_from_far and second not in seen_from_far  # 20 h apart; 34 h apart
    assert board.status_code == 200 and 'id="related"' in board.text and second in board.text
    assert missing.status_code == 404 and anonymous.status_code == 401
