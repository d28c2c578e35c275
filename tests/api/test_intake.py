"""POST /v1/violations: one report, one incident, one workflow, however often it is posted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from temporalio.service import RPCError, RPCStatusCode

from api import intake
from db.models import Incident
from foundation.ids import workflow_id_for
from tests.api.conftest import report


async def test_report_opens_an_incident_with_deadlines_from_t0(dev_env, run_worker, api, tokens):
    observed = datetime.now(UTC) - timedelta(hours=3)
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        response = await http.post(
            "/v1/violations",
            json=report(observed_at=observed.isoformat()),
            headers=tokens.auth("reporter"),
        )
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["created"] is True
        assert response.headers["Location"] == f"/v1/incidents/{accepted['incident_id']}"
        assert accepted["workflow_id"] == workflow_id_for(accepted["incident_id"])
        assert accepted["incident_id"].startswith("zaporizhzhia-")
        # Every deadline runs from T0, not from the report: 72 h after the observation.
        assert datetime.fromisoformat(accepted["activation_deadline"]) == observed + timedelta(
            hours=72
        )

        shown = await http.get(accepted["links"]["incident"], headers=tokens.auth("observer"))
        assert shown.status_code == 200, shown.text
        incident = shown.json()
        assert incident["status"] == "running"
        assert incident["phase"] == "verification" and incident["awaiting"] == "evidence"
        assert incident["plan_id"] == "allied-72h"
        verification = next(d for d in incident["deadlines"] if d["name"] == "verification")
        # Due at T0+12h, observed 3 h ago: about 9 h left.
        assert 8.9 * 3600 < verification["seconds_left"] < 9 * 3600
        assert incident["next_deadline"]["name"] == "verification"
        assert incident["timeline"][0]["kind"] == "reported"


async def test_the_same_report_again_is_the_same_incident(dev_env, run_worker, api, tokens):
    observed = datetime.now(UTC) - timedelta(minutes=5)
    body = report(observed_at=observed.astimezone(timezone(timedelta(hours=2))).isoformat())
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        first = await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
        # The same content with another layout and the same instant in another time zone.
        same = {**body, "observed_at": observed.isoformat()}
        again = await http.post(
            "/v1/violations",
            json=dict(reversed(list(same.items()))),
            headers=tokens.auth("operator"),
        )
    assert first.status_code == 202 and again.status_code == 200, again.text
    assert again.json()["incident_id"] == first.json()["incident_id"]
    assert again.json()["created"] is False
    assert again.json()["reported_at"] == first.json()["reported_at"]


async def test_the_same_report_id_with_other_content_is_refused(dev_env, run_worker, api, tokens):
    body = report()
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        assert (
            await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
        ).status_code == 202
        changed = await http.post(
            "/v1/violations",
            json={**body, "summary": "something else"},
            headers=tokens.auth("reporter"),
        )
    assert changed.status_code == 409
    assert changed.json()["field"] == "report_id"
    assert "different content" in changed.json()["message"]


async def test_fifty_concurrent_duplicates_start_one_workflow(
    dev_env, run_worker, api, tokens, sessions
):
    body = report()
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        responses = await asyncio.gather(
            *(
                http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
                for _ in range(50)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 49 + [202], [
            r.text for r in responses if r.status_code not in (200, 202)
        ]
        incident_id = responses[0].json()["incident_id"]
        assert {r.json()["incident_id"] for r in responses} == {incident_id}
        runs = [
            wf
            async for wf in dev_env.client.list_workflows(
                f"WorkflowId = '{workflow_id_for(incident_id)}'"
            )
        ]
    assert len(runs) == 1
    async with sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).where(Incident.report_id == body["report_id"])
            )
            == 1
        )


async def test_a_retry_starts_the_workflow_a_failed_start_left_behind(
    dev_env, run_worker, api, tokens, monkeypatch
):
    body = report()

    async def unavailable(*args, **kwargs):
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    async with run_worker(dev_env.client), api(dev_env.client) as http:
        # Temporal goes away after the incident row is written, before the workflow starts.
        with monkeypatch.context() as patch:
            patch.setattr(intake, "start_incident", unavailable)
            failed = await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
        assert failed.status_code == 503, failed.text
        retried = await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
        assert retried.status_code == 200, retried.text
        shown = await http.get(
            f"/v1/incidents/{retried.json()['incident_id']}", headers=tokens.auth("observer")
        )
    assert shown.status_code == 200 and shown.json()["status"] == "running"


async def test_observed_at_in_the_future_is_refused_beyond_the_skew(
    dev_env, run_worker, api, tokens
):
    now = datetime.now(UTC)
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        future = await http.post(
            "/v1/violations",
            json=report(observed_at=(now + timedelta(hours=1)).isoformat()),
            headers=tokens.auth("reporter"),
        )
        within_skew = await http.post(
            "/v1/violations",
            json=report(observed_at=(now + timedelta(minutes=1)).isoformat()),
            headers=tokens.auth("reporter"),
        )
        naive = await http.post(
            "/v1/violations",
            json=report(observed_at="2026-01-01T10:00:00"),
            headers=tokens.auth("reporter"),
        )
        ancient = await http.post(
            "/v1/violations",
            json=report(observed_at="1999-01-01T10:00:00Z"),
            headers=tokens.auth("reporter"),
        )
    assert future.status_code == 422 and future.json()["field"] == "observed_at"
    assert "future" in future.json()["message"]
    assert within_skew.status_code == 202
    assert naive.status_code == 422 and naive.json()["field"] == "observed_at"
    assert ancient.status_code == 422 and ancient.json()["field"] == "observed_at"


async def test_kind_and_plan_must_be_known(dev_env, api, tokens):
    async with api(dev_env.client) as http:
        kind = await http.post(
            "/v1/violations", json=report(kind="skirmish"), headers=tokens.auth("reporter")
        )
        plan = await http.post(
            "/v1/violations", json=report(plan_id="nato-5"), headers=tokens.auth("reporter")
        )
    assert kind.status_code == 422 and kind.json()["field"] == "kind"
    assert "large_scale_offensive" in kind.json()["message"]
    assert plan.status_code == 422 and plan.json()["field"] == "plan_id"


async def test_a_report_after_its_window_is_closed_at_intake_and_sends_nothing(
    dev_env, run_worker, api, tokens, sessions, exercise_sink
):
    observed = datetime.now(UTC) - timedelta(days=90)
    body = report(
        kind="limited_incursion",
        observed_at=observed.isoformat(),
        evidence=[{"source": "allied-isr", "summary": "imagery from the time"}],
    )
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        response = await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["window_closed"] is True and accepted["outcome"] == "diplomatic_response"
        # The row is closed before the workflow has said anything.
        async with sessions() as session:
            row = await session.get(Incident, accepted["incident_id"])
        assert row is not None and row.outcome == "diplomatic_response" and row.schedule == []
        handle = dev_env.client.get_workflow_handle(accepted["workflow_id"])
        await handle.result()
        ledger = (
            await http.get(f"/v1/incidents/{row.id}/decisions", headers=tokens.auth("observer"))
        ).json()
    kinds = [d["kind"] for d in ledger["decisions"] if d["kind"] != "notified"]
    assert kinds[0] == "reported" and kinds[-1] == "diplomatic_response"
    assert "dispatched" not in kinds and "verified" not in kinds
    assert [m for m in exercise_sink.sent if m.incident_id == row.id] == []


async def test_the_next_deadline_is_one_answer_in_the_list_and_the_detail(
    dev_env, run_worker, api, tokens
):
    """Verified at intake (two sources): the next thing due is the consultation at T0+24h, in
    the read side's row as in the workflow's own view; not the met verification at T0+12h."""
    observed = datetime.now(UTC) - timedelta(hours=2)
    body = report(observed_at=observed.isoformat(), evidence=[{"source": "allied-isr"}])
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        accepted = (
            await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
        ).json()
        handle = dev_env.client.get_workflow_handle(accepted["workflow_id"])
        for _ in range(50):  # the first ledger batch brings the row up to date
            listed = (
                await http.get(
                    # Other tests' incidents share the server: list enough to find this one.
                    "/v1/incidents",
                    params={"status": "open", "limit": 500},
                    headers=tokens.auth("observer"),
                )
            ).json()
            row = next(
                (i for i in listed["incidents"] if i["incident_id"] == accepted["incident_id"]),
                None,
            )
            if row is not None and row["phase"] == "consultation":
                break
            await asyncio.sleep(0.1)
        detail = (
            await http.get(
                f"/v1/incidents/{accepted['incident_id']}", headers=tokens.auth("observer")
            )
        ).json()
        await handle.terminate("test over")
    assert row is not None, "the incident never reached the read side"
    verification = next(d for d in detail["deadlines"] if d["name"] == "verification")
    assert verification["status"] == "met" and verification["met_at"] is not None
    assert verification["met_hours"] == pytest.approx(2, abs=0.05)
    assert row["next_deadline"]["name"] == detail["next_deadline"]["name"] == "consultation"
    assert row["next_deadline"]["due_at"] == detail["next_deadline"]["due_at"]
    assert datetime.fromisoformat(row["next_deadline"]["due_at"]) == observed + timedelta(hours=24)
