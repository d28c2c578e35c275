"""A full incident driven only through the API, from the report to activation, on the
time-skipping server: plan time advances between the calls."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tests.api.conftest import report


async def test_report_to_activation_through_the_api_only(ts_env, run_worker, api, tokens):
    async def at(hours: float) -> None:
        # A second past the mark, as in tests/workflows/support.py: the time-skipping server
        # rejects a task accepting an update in the instant a timer fires.
        target = t0 + timedelta(hours=hours, seconds=1)
        now = await ts_env.get_current_time()
        if target > now:
            await ts_env.sleep(target - now)

    async with run_worker(ts_env.client), api(ts_env.client, clock=ts_env.get_current_time) as http:
        t0 = await ts_env.get_current_time()
        opened = await http.post(
            "/v1/violations",
            json=report(observed_at=t0.isoformat()),
            headers=tokens.auth("reporter"),
        )
        assert opened.status_code == 202, opened.text
        incident = opened.json()["incident_id"]
        assert datetime.fromisoformat(opened.json()["activation_deadline"]) == t0 + timedelta(
            hours=72
        )
        base = f"/v1/incidents/{incident}"

        await at(2)
        verified = await http.post(
            f"{base}/evidence",
            json={"source": "allied-isr", "summary": "imagery"},
            headers=tokens.auth("reporter"),
        )
        assert verified.json()["decisions"] == ["evidence_accepted", "verified"], verified.text

        await at(10)
        for party, assets in (("uk", ["air", "naval"]), ("pl", ["ground"]), ("us", ["air"])):
            answer = await http.post(
                f"{base}/commitments",
                json={"answer": "commit", "assets": assets},
                headers=tokens.auth(f"ally:{party}"),
            )
            assert answer.status_code == 200, answer.text
        assert answer.json()["decisions"] == ["commitment", "quorum_reached"]

        await at(30)
        live = (await http.get(base, headers=tokens.auth("observer"))).json()
        assert live["phase"] == "authorization" and live["awaiting"] == "operator"
        authorization = next(d for d in live["deadlines"] if d["name"] == "authorization")
        assert (
            abs(authorization["seconds_left"] - 30 * 3600) <= 2
        )  # due at T0+60h, now T0+30h (and a second)

        early = await http.post(
            f"{base}/deployments",
            json={"status": "deployed", "assets": ["air"]},
            headers=tokens.auth("ally:uk"),
        )
        authorized = await http.post(
            f"{base}/decisions",
            json={"action": "authorize", "rationale": "quorum reached; NAC concurs"},
            headers=tokens.auth("operator"),
        )
        assert authorized.status_code == 200, authorized.text
        assert authorized.json()["outcome"] == "activated"
        assert authorized.json()["phase"] == "active"

        # Activated, the response stays open: forces report, the cell terminates it.
        await at(40)
        active = (await http.get(base, headers=tokens.auth("observer"))).json()
        still_open = (
            await http.get(
                "/v1/incidents?status=open&phase=active", headers=tokens.auth("observer")
            )
        ).json()
        deployments = f"{base}/deployments"
        board_before = await http.get(
            f"/board/incidents/{incident}", headers=tokens.auth("observer")
        )
        deployed = await http.post(
            deployments, json={"status": "deployed", "assets": ["air", "naval"]},
            headers=tokens.auth("ally:uk"),
        )  # fmt: skip
        for_another = await http.post(
            deployments, json={"party": "us", "status": "withdrawn", "assets": ["air"]},
            headers=tokens.auth("ally:uk"),
        )  # fmt: skip
        not_committed = await http.post(
            deployments, json={"status": "deployed", "assets": ["air"]},
            headers=tokens.auth("ally:fr"),
        )  # fmt: skip
        foreign = await http.post(
            deployments, json={"status": "withdrawn", "assets": ["naval"]},
            headers=tokens.auth("ally:pl"),
        )  # fmt: skip
        bad_status = await http.post(
            deployments, json={"status": "lost", "assets": ["air"]}, headers=tokens.auth("ally:uk")
        )
        board = await http.get(f"/board/incidents/{incident}", headers=tokens.auth("observer"))
        confirm = await http.post(
            f"{base}/decisions",
            json={"action": "confirm", "rationale": "again"},
            headers=tokens.auth("operator"),
        )
        terminated = await http.post(
            f"{base}/decisions",
            json={"action": "terminate", "rationale": "ceasefire restored; forces stand down"},
            headers=tokens.auth("operator"),
        )

        # The workflow completes once its close notice is out.
        for _ in range(100):
            final = (await http.get(base, headers=tokens.auth("observer"))).json()
            if final["status"] == "completed":
                break
            await asyncio.sleep(0.1)
        ledger = (await http.get(f"{base}/decisions", headers=tokens.auth("observer"))).json()
        listed = (
            await http.get(
                "/v1/incidents?outcome=activated&status=closed", headers=tokens.auth("observer")
            )
        ).json()

    assert early.status_code == 409 and early.json()["field"] == "status", early.text
    assert active["phase"] == "active" and active["status"] == "running"
    assert active["outcome"] == "activated" and active["closed_at"] is None
    assert round((datetime.fromisoformat(active["activated_at"]) - t0) / timedelta(hours=1)) == 30
    assert datetime.fromisoformat(active["next_review_at"]) == datetime.fromisoformat(
        active["activated_at"]
    ) + timedelta(hours=168)
    assert active["next_deadline"]["kind"] == "review"
    assert incident in [i["incident_id"] for i in still_open["incidents"]]
    assert deployed.status_code == 200 and deployed.json()["decisions"] == ["deployed"]
    assert board_before.status_code == 200 and "still active" in board_before.text
    forces = board.text[board.text.index('id="forces"') :]
    assert "uk" in forces and "air, naval" in forces
    assert for_another.status_code == 403 and for_another.json()["field"] == "party"
    assert not_committed.status_code == 422 and not_committed.json()["field"] == "party"
    assert foreign.status_code == 422 and foreign.json()["field"] == "assets", foreign.text
    assert bad_status.status_code == 422 and bad_status.json()["field"] == "status"
    assert confirm.status_code == 409 and confirm.json()["field"] == "action", confirm.text
    assert terminated.status_code == 200, terminated.text
    assert terminated.json()["decisions"] == ["terminate", "terminated"]
    assert final["status"] == "completed" and final["outcome"] == "activated"
    assert final["phase"] == "closed"
    assert final["termination_rationale"].endswith("ceasefire restored; forces stand down")
    assert round((datetime.fromisoformat(final["closed_at"]) - t0) / timedelta(hours=1)) == 40
    uk = next(d for d in final["deployments"] if d["party"] == "uk")
    assert (uk["deployed"], uk["withdrawn"]) == (["air", "naval"], [])
    assert final["authorized_by"] == tokens.names["operator"]
    assert sorted(final["quorum"]["committed"]) == ["pl", "uk", "us"]
    assert ledger["chain"]["intact"] is True
    decided = [row for row in ledger["decisions"] if row["kind"] != "notified"]
    kinds = [row["kind"] for row in decided]
    assert kinds[0] == "reported"
    assert kinds[-5:] == ["authorize", "activated", "deployed", "terminate", "terminated"]
    actors = {row["kind"]: row["actor"] for row in decided}
    assert actors["authorize"] == tokens.names["operator"]
    assert actors["deployed"] == tokens.names["ally:uk"]
    assert actors["evidence_accepted"] == tokens.names["reporter"]
    assert round(next(r for r in decided if r["kind"] == "activated")["t_plus_hours"]) == 30
    # The activation orders at activation; the close notice at the termination.
    told = [
        row["payload"]["notice_kind"] for row in ledger["decisions"] if row["kind"] == "notified"
    ]
    assert told[-2:] == ["activation_order", "close"]
    assert incident in [i["incident_id"] for i in listed["incidents"]]
