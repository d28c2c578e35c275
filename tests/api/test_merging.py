"""Merging over HTTP, on SQLite and PostgreSQL: an operator folds one open incident into
another (``merge``) and corrects T0 (``correct_t0``); every bad request is a 4xx naming its
field, and a refused merge leaves both incidents as they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.conftest import report
from tests.api.test_submissions import open_incident


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def merge(into: str, **extra: object) -> dict[str, object]:
    return {"action": "merge", "into": into, "rationale": "one offensive", **extra}


async def test_an_operator_merges_one_incident_into_another(
    dev_env, run_worker, api, tokens, sessions
):
    operator, reader = tokens.auth("operator"), tokens.auth("observer")
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        survivor = await open_incident(http, tokens, sector="Zaporizhzhia", observed_at=ago(1))
        absorbed = await open_incident(
            http, tokens, sector="Kherson", reported_by="kherson-command", observed_at=ago(5)
        )
        merged = await http.post(
            f"/v1/incidents/{absorbed}/decisions", json=merge(survivor), headers=operator
        )
        again = await http.post(
            f"/v1/incidents/{absorbed}/decisions", json=merge(survivor), headers=operator
        )
        gone = (await http.get(f"/v1/incidents/{absorbed}", headers=reader)).json()
        kept = (await http.get(f"/v1/incidents/{survivor}", headers=reader)).json()
        listed = (await http.get("/v1/incidents?status=closed", headers=reader)).json()
        still_open = (await http.get("/v1/incidents?status=open", headers=reader)).json()
        board = await http.get(f"/board/incidents/{survivor}", headers=reader)
        ledger = (await http.get(f"/v1/incidents/{absorbed}/decisions", headers=reader)).json()
        theirs = (await http.get(f"/v1/incidents/{survivor}/decisions", headers=reader)).json()

    assert merged.status_code == 200, merged.text
    assert merged.json()["outcome"] == "merged" and merged.json()["decisions"][-1] == "merged"
    assert again.status_code == 409 and "has ended" in again.json()["message"], again.text
    assert gone["outcome"] == "merged" and gone["merged_into"] == survivor
    assert gone["closed_at"] is not None
    assert kept["merged_from"] == [absorbed] and kept["sectors"] == ["Zaporizhzhia", "Kherson"]
    assert kept["reports"] == 2 and kept["verification"] == "verified"
    # T0 is the earlier violation's: 5 h ago.
    t0 = datetime.fromisoformat(kept["t0"])
    assert abs((datetime.now(UTC) - t0) - timedelta(hours=5)) < timedelta(minutes=5)
    row = next(i for i in listed["incidents"] if i["incident_id"] == absorbed)
    assert row["merged_into"] == survivor
    kept_row = next(i for i in still_open["incidents"] if i["incident_id"] == survivor)
    assert kept_row["merged_from"] == [absorbed] and kept_row["sectors"] == kept["sectors"]
    assert board.status_code == 200 and absorbed in board.text and "Kherson" in board.text
    assert [d["kind"] for d in ledger["decisions"] if d["kind"] in ("merge", "merged")] == [
        "merge",
        "merged",
    ]
    assert ledger["chain"]["intact"] and theirs["chain"]["intact"]
    taken = next(d for d in theirs["decisions"] if d["kind"] == "absorbed")
    assert taken["payload"]["incident"] == absorbed and absorbed in taken["detail"]


async def test_a_bad_merge_is_a_4xx_naming_its_field(dev_env, run_worker, api, tokens):
    operator = tokens.auth("operator")
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        first = await open_incident(http, tokens)
        other_plan = await open_incident(
            http, tokens, plan_id="regional-48h", kind="armed_incursion", sector="Narva"
        )
        closed = await open_incident(http, tokens, sector="Luhansk")
        stood = await http.post(
            f"/v1/incidents/{closed}/decisions",
            json={"action": "stand_down", "rationale": "false alarm"},
            headers=operator,
        )
        assert stood.status_code == 200, stood.text

        async def decide(body: dict[str, object], incident: str = first):
            return await http.post(
                f"/v1/incidents/{incident}/decisions", json=body, headers=operator
            )

        missing = await decide({"action": "merge", "rationale": "one offensive"})
        itself = await decide(merge(first))
        unknown = await decide(merge("nowhere-1"))
        malformed = await decide(merge("Not An Id"))
        ended = await decide(merge(closed))
        plan = await decide(merge(other_plan))
        exercise = await decide(merge("exercise-abc"))
        stray = await decide({"action": "confirm", "rationale": "x", "into": other_plan})
        no_time = await decide({"action": "correct_t0", "rationale": "radar log"})
        future = await decide(
            {"action": "correct_t0", "rationale": "radar log", "observed_at": ago(-2)}
        )
        naive = await decide(
            {"action": "correct_t0", "rationale": "radar log", "observed_at": "2026-12-01T10:00:00"}
        )
        corrected = await decide(
            {"action": "correct_t0", "rationale": "radar log", "observed_at": ago(6)}
        )
        view = (await http.get(f"/v1/incidents/{first}", headers=operator)).json()

    for response, status, field in (
        (missing, 422, "into"),
        (itself, 422, "into"),
        (unknown, 404, "into"),
        (malformed, 422, "into"),
        (ended, 409, "into"),
        (plan, 409, "into"),
        (exercise, 404, "into"),
        (stray, 422, "into"),
        (no_time, 422, "observed_at"),
        (future, 422, "observed_at"),
        (naive, 422, "observed_at"),
    ):
        assert response.status_code == status, response.text
        assert response.json()["field"] == field, response.text
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["decisions"][0] == "correct_t0"
    assert view["outcome"] is None and view["merged_from"] == []
    assert "merge" not in [d["kind"] for d in view["timeline"]]  # refused at the edge
    t0 = datetime.fromisoformat(view["t0"])
    assert abs((datetime.now(UTC) - t0) - timedelta(hours=6)) < timedelta(minutes=5)


async def test_a_report_joining_a_merged_incident_is_refused(dev_env, run_worker, api, tokens):
    operator, reporter = tokens.auth("operator"), tokens.auth("reporter")
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        survivor = await open_incident(http, tokens)
        absorbed = await open_incident(http, tokens, sector="Kherson")
        merged = await http.post(
            f"/v1/incidents/{absorbed}/decisions", json=merge(survivor), headers=operator
        )
        late = await http.post(
            "/v1/violations", json={**report(sector="Odesa"), "joins": absorbed}, headers=reporter
        )
    assert merged.status_code == 200, merged.text
    assert late.status_code == 409 and late.json()["field"] == "joins", late.text
