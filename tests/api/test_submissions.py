"""Evidence, commitments and decisions through the API: the workflow's answers, its refusals as
409/422 naming the field, and retries that never record twice."""

from __future__ import annotations

import asyncio

from tests.api.conftest import report


async def open_incident(http, tokens, **overrides) -> str:
    response = await http.post(
        "/v1/violations", json=report(**overrides), headers=tokens.auth("reporter")
    )
    assert response.status_code == 202, response.text
    return response.json()["incident_id"]


async def test_evidence_verifies_and_the_ledger_records_the_token_as_actor(
    dev_env, run_worker, api, tokens
):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident = await open_incident(http, tokens)
        response = await http.post(
            f"/v1/incidents/{incident}/evidence",
            json={"source": "allied-isr", "summary": "imagery of columns"},
            headers=tokens.auth("reporter"),
        )
        assert response.status_code == 200, response.text
        receipt = response.json()
        assert receipt["decisions"] == ["evidence_accepted", "verified"]
        assert receipt["phase"] == "consultation"
        ledger = (
            await http.get(f"/v1/incidents/{incident}/decisions", headers=tokens.auth("observer"))
        ).json()
    rows_written = len(ledger["decisions"])
    assert ledger["chain"] == {
        "verdict": "intact",
        "summary": f"intact ({rows_written} rows, matches the workflow)",
        "rows": rows_written,
        "intact": True,
        "broken_at_seq": None,
        "problem": None,
        "checked_against_workflow": True,
        "cancelled_by": None,
    }
    rows = {row["kind"]: row for row in ledger["decisions"]}
    assert rows["evidence_accepted"]["actor"] == tokens.names["reporter"]
    assert rows["evidence_accepted"]["payload"]["source"] == "allied-isr"
    assert [row["seq"] for row in ledger["decisions"]] == list(
        range(1, len(ledger["decisions"]) + 1)
    )


async def test_commitments_answer_for_the_token_party_only(dev_env, run_worker, api, tokens):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident = await open_incident(http, tokens)
        url = f"/v1/incidents/{incident}/commitments"
        own = await http.post(
            url, json={"answer": "commit", "assets": ["air"]}, headers=tokens.auth("ally:uk")
        )
        other = await http.post(
            url, json={"party": "fr", "answer": "decline"}, headers=tokens.auth("ally:uk")
        )
        operator = await http.post(
            url,
            json={"party": "uk", "answer": "commit", "assets": ["air"]},
            headers=tokens.auth("operator"),
        )
        ledger = (
            await http.get(f"/v1/incidents/{incident}/decisions", headers=tokens.auth("ally:fr"))
        ).json()
    assert own.status_code == 200, own.text
    assert own.json()["message"] == "uk: commit"
    assert other.status_code == 403 and other.json()["field"] == "party"
    assert operator.status_code == 403
    commitment = next(row for row in ledger["decisions"] if row["kind"] == "commitment")
    assert commitment["actor"] == tokens.names["ally:uk"]
    assert commitment["payload"]["party"] == "uk"


async def test_refusals_name_the_field_409_for_state_and_422_for_values(
    dev_env, run_worker, api, tokens
):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident = await open_incident(http, tokens)
        decisions = f"/v1/incidents/{incident}/decisions"
        commitments = f"/v1/incidents/{incident}/commitments"
        operator, uk = tokens.auth("operator"), tokens.auth("ally:uk")

        no_quorum = await http.post(
            decisions, json={"action": "authorize", "rationale": "now"}, headers=operator
        )
        assert no_quorum.status_code == 409, no_quorum.text
        assert no_quorum.json()["field"] == "action"
        assert "quorum" in no_quorum.json()["message"]

        same_kind = await http.post(
            decisions,
            json={"action": "reclassify", "rationale": "r", "new_kind": "large_scale_offensive"},
            headers=operator,
        )
        assert same_kind.status_code == 409 and same_kind.json()["field"] == "new_kind"
        bad_kind = await http.post(
            decisions,
            json={"action": "reclassify", "rationale": "r", "new_kind": "skirmish"},
            headers=operator,
        )
        assert bad_kind.status_code == 422 and bad_kind.json()["field"] == "new_kind"
        missing_kind = await http.post(
            decisions, json={"action": "reclassify", "rationale": "r"}, headers=operator
        )
        assert missing_kind.status_code == 422 and missing_kind.json()["field"] == "new_kind"
        stray_kind = await http.post(
            decisions,
            json={"action": "confirm", "rationale": "r", "new_kind": "ceasefire_breach"},
            headers=operator,
        )
        assert stray_kind.status_code == 422 and stray_kind.json()["field"] == "new_kind"

        unknown_asset = await http.post(
            commitments, json={"answer": "commit", "assets": ["space"]}, headers=uk
        )
        assert unknown_asset.status_code == 422 and unknown_asset.json()["field"] == "assets"
        no_assets = await http.post(commitments, json={"answer": "commit"}, headers=uk)
        assert no_assets.status_code == 422 and no_assets.json()["field"] == "assets"
        decline_with_assets = await http.post(
            commitments, json={"answer": "decline", "assets": ["air"]}, headers=uk
        )
        assert (
            decline_with_assets.status_code == 422
            and decline_with_assets.json()["field"] == "assets"
        )
        maybe = await http.post(commitments, json={"answer": "maybe"}, headers=uk)
        assert maybe.status_code == 422 and maybe.json()["field"] == "answer"

        stood_down = await http.post(
            decisions, json={"action": "stand_down", "rationale": "false alarm"}, headers=operator
        )
        assert stood_down.status_code == 200, stood_down.text
        assert stood_down.json()["outcome"] == "stood_down"
        ended = await http.post(
            f"/v1/incidents/{incident}/evidence",
            json={"source": "late"},
            headers=tokens.auth("reporter"),
        )
        assert ended.status_code == 409, ended.text
        assert "ended" in ended.json()["message"]
        for _ in range(100):  # completed once its close notice is out
            final = await http.get(f"/v1/incidents/{incident}", headers=operator)
            if final.json().get("status") == "completed":
                break
            await asyncio.sleep(0.1)
        assert final.status_code == 200 and final.json()["status"] == "completed"
        assert final.json()["outcome"] == "stood_down"
        assert all(d["seconds_left"] is None for d in final.json()["deadlines"])


async def test_a_retried_decision_is_recorded_once(dev_env, run_worker, api, tokens):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident = await open_incident(http, tokens)
        url = f"/v1/incidents/{incident}/decisions"
        headers = {**tokens.auth("operator"), "Idempotency-Key": "confirm-1"}
        first = await http.post(
            url, json={"action": "confirm", "rationale": "seen it"}, headers=headers
        )
        again = await http.post(
            url, json={"action": "confirm", "rationale": "seen it"}, headers=headers
        )
        without_key = await http.post(
            url, json={"action": "confirm", "rationale": "seen it"}, headers=tokens.auth("operator")
        )
        ledger = (
            await http.get(f"/v1/incidents/{incident}/decisions", headers=tokens.auth("observer"))
        ).json()
    assert first.status_code == 200 and again.status_code == 200, again.text
    assert again.json() == first.json()
    # A new request (no key) is a new decision, refused: the violation is already verified.
    assert without_key.status_code == 409 and without_key.json()["field"] == "action"
    assert [row["kind"] for row in ledger["decisions"]].count("confirm") == 1


async def test_unknown_incidents_are_404(dev_env, run_worker, api, tokens):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        ghost = "nowhere-00000000"
        shown = await http.get(f"/v1/incidents/{ghost}", headers=tokens.auth("observer"))
        ledger = await http.get(f"/v1/incidents/{ghost}/decisions", headers=tokens.auth("observer"))
        evidence = await http.post(
            f"/v1/incidents/{ghost}/evidence", json={"source": "x"}, headers=tokens.auth("reporter")
        )
        decision = await http.post(
            f"/v1/incidents/{ghost}/decisions",
            json={"action": "confirm", "rationale": "x"},
            headers=tokens.auth("operator"),
        )
        malformed = await http.get("/v1/incidents/NOT%20AN%20ID", headers=tokens.auth("observer"))
    for response in (shown, ledger, evidence, decision):
        assert response.status_code == 404, response.text
        assert response.json()["field"] == "incident_id"
    assert malformed.status_code == 422 and malformed.json()["field"] == "incident_id"
