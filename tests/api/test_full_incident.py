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

        authorized = await http.post(
            f"{base}/decisions",
            json={"action": "authorize", "rationale": "quorum reached; NAC concurs"},
            headers=tokens.auth("operator"),
        )
        assert authorized.status_code == 200, authorized.text
        assert authorized.json()["outcome"] == "activated"

        # The workflow completes once its close notice and activation orders are out.
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

    assert final["status"] == "completed" and final["outcome"] == "activated"
    assert final["authorized_by"] == tokens.names["operator"]
    assert sorted(final["quorum"]["committed"]) == ["pl", "uk", "us"]
    assert ledger["chain"]["intact"] is True
    decided = [row for row in ledger["decisions"] if row["kind"] != "notified"]
    kinds = [row["kind"] for row in decided]
    assert kinds[0] == "reported" and kinds[-2:] == ["authorize", "activated"]
    actors = {row["kind"]: row["actor"] for row in decided}
    assert actors["authorize"] == tokens.names["operator"]
    assert actors["evidence_accepted"] == tokens.names["reporter"]
    assert round(decided[-1]["t_plus_hours"]) == 30
    # After the outcome: the activation orders and the close notice.
    assert [row["payload"]["notice_kind"] for row in ledger["decisions"][-2:]] == [
        "activation_order",
        "close",
    ]
    assert incident in [i["incident_id"] for i in listed["incidents"]]
