"""The audit anchors every ledger to what Temporal records, found by the incident id alone: a
rebuilt chain, an incident row pointed at another workflow, deleted rows, and a ledger no workflow
answers for each get their own verdict, on SQLite and PostgreSQL, through the API and the CLI.

The attacks are those of the security test (issue 12 §3): someone with owner rights on the
database edits rows and recomputes the chain (``ledger_support.rechained``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from activities.ledger import LedgerActivities
from db.audit import Verdict, audit_all, audit_incident
from tests.api.conftest import report
from tests.security.ledger_support import (
    WrittenLedger,
    cli_verify,
    incident_of,
    rechained,
    rows_of,
    tamper,
    write_ledger,
)
from workflows import execution_record
from workflows.servers import start_dev_server


def temporal_env(env: WorkflowEnvironment) -> dict[str, str]:
    """The CLI's environment for ``env``'s server."""
    return {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": env.client.namespace,
    }


async def live_incident(http: Any, tokens: Any) -> str:
    """A running incident with three rows in its ledger (the second source's evidence answered
    once it is in the ledger)."""
    body = report(evidence=[{"source": "allied-isr", "summary": "imagery"}])
    posted = await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
    incident_id = posted.json()["incident_id"]
    receipt = await http.post(
        f"/v1/incidents/{incident_id}/evidence",
        json={"source": "osce-smm"},
        headers=tokens.auth("reporter"),
    )
    assert receipt.status_code == 200, receipt.text
    return incident_id


async def verified(http: Any, tokens: Any, incident_id: str) -> dict[str, Any]:
    answer = await http.get(
        f"/v1/incidents/{incident_id}/ledger/verify", headers=tokens.auth("observer")
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_the_api_names_a_tampered_row_of_a_live_incident(
    dev_env, run_worker, api, tokens, engine
):
    """Through the API, on a running workflow: intact, then one forged rationale named by seq."""
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident_id = await live_incident(http, tokens)
        clean = await verified(http, tokens, incident_id)
        assert clean["verdict"] == "intact" and clean["intact"] is True
        assert clean["checked_against_workflow"] is True and clean["rows"] >= 3
        assert clean["summary"] == f"intact ({clean['rows']} rows, matches the workflow)"
        await tamper(
            engine,
            (
                "UPDATE decisions SET rationale = 'nothing seen' WHERE incident_id = :id AND seq = 2",
                {"id": incident_id},
            ),
        )
        broken = await verified(http, tokens, incident_id)
        assert broken["verdict"] == "broken" and broken["intact"] is False
        assert broken["broken_at_seq"] == 2 and "altered" in broken["problem"]
        assert broken["summary"].startswith("BROKEN at seq 2: ")
        missing = await http.get(
            "/v1/incidents/nowhere-00000000/ledger/verify", headers=tokens.auth("observer")
        )
        assert missing.status_code == 404
        assert (await http.get(f"/v1/incidents/{incident_id}/ledger/verify")).status_code == 401


async def test_a_rebuilt_chain_pointed_at_a_made_up_workflow_is_broken(
    dev_env, run_worker, api, tokens, engine, sessions, database_url
):
    """The bypass of issue 12 §3: edit a decision, recompute the chain, point
    incidents.workflow_id at a made-up id. The workflow is found by the incident id, and its
    head no longer matches; the made-up id is itself a break."""
    env = temporal_env(dev_env)
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident_id = await live_incident(http, tokens)
        result = await cli_verify(database_url, incident_id, env=env)
        assert result.exit_code == 0, result.output
        assert f"{incident_id}: intact (" in result.output

        rows = await rows_of(sessions, incident_id)
        await tamper(engine, *rechained(rows, 2, lambda row: {"rationale": "nothing seen"}))
        rebuilt = await verified(http, tokens, incident_id)
        assert rebuilt["verdict"] == "broken" and "differs from the workflow" in rebuilt["problem"]

        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE incidents SET workflow_id = :made_up WHERE id = :id"),
                {"made_up": f"incident-made-up-{incident_id}", "id": incident_id},
            )
        pointed = await verified(http, tokens, incident_id)
        assert pointed["verdict"] == "broken" and "incident-made-up-" in pointed["problem"]
        result = await cli_verify(database_url, incident_id, "--json", env=env)
        assert result.exit_code == 1, result.output
        document = json.loads(result.output)
        assert document["exit_status"] == 1 and document["verdicts"] == {"broken": 1}
        assert "incident-made-up-" in document["incidents"][0]["problem"]


async def test_recorded_at_stays_outside_the_seal_and_run_id_inside(
    dev_env, run_worker, api, tokens, engine, sessions, database_url
):
    env = temporal_env(dev_env)
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident_id = await live_incident(http, tokens)
        incident = await incident_of(sessions, incident_id)
        await tamper(
            engine,
            (
                "UPDATE decisions SET recorded_at = :at WHERE incident_id = :id",
                {"at": incident.observed_at, "id": incident_id},
            ),
        )
        assert (await verified(http, tokens, incident_id))["verdict"] == "intact"
        result = await cli_verify(database_url, incident_id, env=env)
        assert result.exit_code == 0, result.output

        rows = await rows_of(sessions, incident_id)
        assert rows[1].run_id == rows[0].run_id != ""  # the run that decided, sealed in the row
        await tamper(
            engine,
            (
                "UPDATE decisions SET run_id = 'another-run' WHERE incident_id = :id AND seq = 2",
                {"id": incident_id},
            ),
        )
        broken = await verified(http, tokens, incident_id)
        assert broken["verdict"] == "broken" and broken["broken_at_seq"] == 2
        result = await cli_verify(database_url, incident_id, env=env)
        assert result.exit_code == 1 and f"{incident_id}: BROKEN at seq 2" in result.output


async def _delete_incident(engine: Any, incident_id: str) -> None:
    await tamper(
        engine,
        ("DELETE FROM notifications WHERE incident_id = :id", {"id": incident_id}),
        ("DELETE FROM decisions WHERE incident_id = :id", {"id": incident_id}),
        ("DELETE FROM reports WHERE incident_id = :id", {"id": incident_id}),
        ("DELETE FROM incidents WHERE id = :id", {"id": incident_id}),
    )


async def test_an_incident_deleted_from_the_database_is_vanished(
    dev_env, run_worker, api, tokens, engine, database_url
):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        incident_id = await live_incident(http, tokens)
    await _delete_incident(engine, incident_id)
    result = await cli_verify(database_url, incident_id, env=temporal_env(dev_env))
    assert result.exit_code == 1, result.output
    assert f"{incident_id}: VANISHED: Temporal knows the incident" in result.output
    assert "the database holds none of its rows (0 rows)" in result.output


@pytest.fixture
async def own_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this test's own: auditing every incident reads Temporal's whole list,
    and the session's server also lists the incidents of other tests and databases."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


async def test_every_incident_temporal_lists_is_audited(
    own_temporal, run_worker, api, tokens, engine, sessions, database_url
):
    """The all-incidents audit enumerates Temporal's visibility as well as the database: an
    incident whose rows were all deleted is named, not skipped."""
    async with run_worker(own_temporal.client), api(own_temporal.client) as http:
        kept = await live_incident(http, tokens)
        deleted = await live_incident(http, tokens)
    # Deleted while no worker writes (the running incident would write its row again); a
    # worker is back for the audit, which queries the running workflows.
    await _delete_incident(engine, deleted)
    async with run_worker(own_temporal.client):
        # Visibility is eventually consistent: wait until it lists both.
        for _ in range(100):
            if {kept, deleted} <= await execution_record.incident_ids(own_temporal.client):
                break
            await asyncio.sleep(0.1)
        audits = {a.incident_id: a for a in await audit_all(sessions, own_temporal.client)}
        result = await cli_verify(database_url, "--json", env=temporal_env(own_temporal))
    assert audits[kept].verdict is Verdict.INTACT
    assert audits[deleted].verdict is Verdict.VANISHED and audits[deleted].rows == 0
    document = json.loads(result.output)
    found = {a["incident_id"]: a["verdict"] for a in document["incidents"]}
    assert found[kept] == "intact" and found[deleted] == "vanished"
    assert result.exit_code == 1 == document["exit_status"]


@pytest.fixture
async def ledger(ledger_writer: LedgerActivities) -> WrittenLedger:
    return await write_ledger(ledger_writer)


async def test_a_ledger_no_workflow_answers_for_is_not_intact(
    dev_env, sessions, ledger, database_url
):
    """A valid chain with no workflow behind it: unanchored while Temporal would still keep the
    incident's history, beyond retention once it would not; never intact."""
    incident = await incident_of(sessions, ledger.incident_id)
    assert incident.closed_at is not None
    kept = await execution_record.retention(dev_env.client)
    assert kept is not None and kept > timedelta(0)
    soon = await audit_incident(
        sessions, incident, dev_env.client, now=incident.closed_at + timedelta(minutes=5)
    )
    assert soon.verdict is Verdict.UNANCHORED and not soon.intact
    assert soon.summary == (
        f"UNANCHORED: no workflow {ledger.workflow_id} answers in Temporal (12 rows)"
    )
    late = await audit_incident(
        sessions, incident, dev_env.client, now=incident.closed_at + kept + timedelta(days=1)
    )
    assert late.verdict is Verdict.BEYOND_RETENTION and not late.intact
    assert f"({kept.days} days)" in late.summary
    result = await cli_verify(database_url, ledger.incident_id, env=temporal_env(dev_env))
    assert result.exit_code == 3, result.output
    assert "UNANCHORED" in result.output or "BEYOND_RETENTION" in result.output


async def test_verify_exit_statuses(database_url, ledger):
    """0 intact, 1 found wrong, 3 could not anchor, 2 error: here the last two (the others are
    in the tests above and in test_ledger_tamper.py)."""
    unreachable = {"TEMPORAL_ADDRESS": "127.0.0.1:9", "TEMPORAL_NAMESPACE": "default"}
    result = await cli_verify(database_url, ledger.incident_id, "--json", env=unreachable)
    assert result.exit_code == 3, result.output
    audit = json.loads(result.output)["incidents"][0]
    assert audit["verdict"] == "unanchored" and "did not answer" in audit["summary"]
    missing = await cli_verify(database_url, "nowhere-00000000", env=unreachable)
    assert missing.exit_code == 2, missing.output
    bad = await cli_verify("postgresql+asyncpg://postgres@127.0.0.1:9/none", "--chain-only")
    assert bad.exit_code == 2 and "cannot read the ledger database" in bad.output


async def test_one_verdict_wherever_a_truncated_ledger_is_shown(
    dev_env, database_url, engine, ledger, api, tokens
):
    """The API's ledger, its verify endpoint, the board's timeline and the CLI all give the
    audit's verdict and its one-line summary: rows cut off the end are seen by each."""
    await tamper(
        engine,
        ("DELETE FROM decisions WHERE incident_id = :id AND seq >= 11", {"id": ledger.incident_id}),
    )
    incident = ledger.incident_id
    async with api(dev_env.client) as http:
        headers = tokens.auth("observer")
        shown = (await http.get(f"/v1/incidents/{incident}/decisions", headers=headers)).json()
        verified = (
            await http.get(f"/v1/incidents/{incident}/ledger/verify", headers=headers)
        ).json()
        board = (await http.get(f"/board/incidents/{incident}", headers=headers)).text
    assert shown["chain"]["verdict"] == "broken" and shown["chain"]["broken_at_seq"] == 11
    assert {k: verified[k] for k in shown["chain"]} == shown["chain"]
    summary = shown["chain"]["summary"]
    assert summary.startswith("BROKEN at seq 11: ") and "removed from the end" in summary
    assert 'data-verdict="broken"' in board and summary in board
    result = await cli_verify(database_url, incident, env=temporal_env(dev_env))
    assert result.exit_code == 1 and f"{incident}: {summary}" in result.output


async def test_up_keeps_closed_histories_for_the_configured_days(own_temporal):
    """`contingency up` raises its dev server's retention (CONTINGENCY_TEMPORAL_RETENTION_DAYS),
    which the audit reads to tell beyond_retention from unanchored."""
    client = own_temporal.client
    assert await execution_record.ensure_retention(client, client.namespace, 90) is True
    assert await execution_record.retention(client) == timedelta(days=90)
    assert await execution_record.ensure_retention(client, client.namespace, 30) is False
