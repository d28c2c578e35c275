"""The ledger is append-only in the database, and any tampering done around that is found by
`contingency ledger verify`: altered, removed, inserted, truncated, or a chain rebuilt to match.

Every test runs on SQLite and on PostgreSQL, with the migrations' triggers in place. Forgeries
are made the way an attacker with owner rights would: triggers disabled for one transaction
(PostgreSQL: ``session_replication_role = replica``; SQLite: dropped and re-created).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from activities.ledger import LedgerActivities
from contingency.cli.main import app as cli_app
from db.audit import check_rows, compare_with_timeline
from db.chain import row_hash
from db.models import Incident, LedgerDecision
from tests.security.ledger_support import WrittenLedger, write_ledger

MIGRATION = next((Path(__file__).parents[2] / "db" / "migrations" / "versions").glob("*_0003_*.py"))


def _migration_0003() -> Any:
    spec = importlib.util.spec_from_file_location("migration_0003", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def tamper(engine: AsyncEngine, *statements: tuple[str, dict[str, Any]]) -> None:
    """Run ``statements`` with the append-only triggers out of the way, in one transaction."""
    sqlite = engine.dialect.name == "sqlite"
    async with engine.begin() as conn:
        if sqlite:
            await conn.execute(text("DROP TRIGGER decisions_no_update"))
            await conn.execute(text("DROP TRIGGER decisions_no_delete"))
        else:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
        for sql, params in statements:
            await conn.execute(text(sql), params)
        if sqlite:
            for statement in _migration_0003().SQLITE_UP:
                await conn.execute(text(statement))


async def rows_of(
    sessions: async_sessionmaker[AsyncSession], incident_id: str
) -> list[LedgerDecision]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(LedgerDecision)
                .where(LedgerDecision.incident_id == incident_id)
                .order_by(LedgerDecision.seq)
            )
        )


async def incident_of(sessions: async_sessionmaker[AsyncSession], incident_id: str) -> Incident:
    async with sessions() as session:
        incident = await session.get(Incident, incident_id)
    assert incident is not None
    return incident


async def cli_verify(database_url: str, *args: str) -> Any:
    # In a thread: the command runs its own event loop.
    return await asyncio.to_thread(
        CliRunner().invoke, cli_app, ["ledger", "verify", *args, "--database-url", database_url]
    )


@pytest.fixture
async def ledger(ledger_writer: LedgerActivities) -> WrittenLedger:
    return await write_ledger(ledger_writer)


async def test_update_and_delete_of_ledger_rows_are_refused(engine, sessions, ledger):
    for statement in (
        "UPDATE decisions SET rationale = 'nothing happened' WHERE incident_id = :id AND seq = 2",
        "DELETE FROM decisions WHERE incident_id = :id AND seq = 12",
        "UPDATE decisions SET actor = 'someone-else' WHERE incident_id = :id",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement), {"id": ledger.incident_id})
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text("TRUNCATE decisions CASCADE"))
    rows = await rows_of(sessions, ledger.incident_id)
    assert [(r.seq, r.kind, r.actor, r.rationale) for r in rows] == [
        (d.seq, d.kind, d.actor, d.rationale) for d in ledger.decisions
    ]


async def test_an_untouched_ledger_verifies(database_url, sessions, ledger):
    rows = await rows_of(sessions, ledger.incident_id)
    assert len(rows) == len(ledger.decisions) == 12
    assert check_rows(await incident_of(sessions, ledger.incident_id), rows) is None
    assert (
        compare_with_timeline(
            ledger.incident_id, ledger.workflow_id, rows, ledger.decisions, 12, True
        )
        is None
    )
    result = await cli_verify(database_url, ledger.incident_id)
    assert result.exit_code == 0, result.output
    assert f"{ledger.incident_id}: intact (12 rows)" in result.output


async def _expect_broken(database_url: str, ledger: WrittenLedger, seq: int, words: str) -> None:
    result = await cli_verify(database_url, ledger.incident_id)
    assert result.exit_code == 1, result.output
    assert f"{ledger.incident_id}: BROKEN at seq {seq}: " in result.output, result.output
    assert words in result.output, result.output


async def test_an_altered_row_is_named(database_url, engine, ledger):
    await tamper(
        engine,
        (
            "UPDATE decisions SET rationale = 'no quorum was needed' WHERE incident_id = :id AND seq = 5",
            {"id": ledger.incident_id},
        ),
    )
    await _expect_broken(database_url, ledger, 5, "altered")


async def test_a_removed_row_is_named(database_url, engine, ledger):
    await tamper(
        engine,
        ("DELETE FROM decisions WHERE incident_id = :id AND seq = 7", {"id": ledger.incident_id}),
    )
    await _expect_broken(database_url, ledger, 7, "missing")


async def test_an_inserted_row_is_named(database_url, engine, sessions, ledger):
    """A forged row slipped in at seq 5 with a hash valid for its place: the row after it no
    longer chains to the row before it."""
    rows = await rows_of(sessions, ledger.incident_id)
    forged = {
        "incident_id": ledger.incident_id, "seq": 5, "kind": "decline", "actor": "ally:uk",
        "rationale": "declined after all", "payload": {}, "occurred_at": rows[3].occurred_at,
        "t_plus_hours": rows[3].t_plus_hours, "workflow_id": ledger.workflow_id,
    }  # fmt: skip
    forged_hash = row_hash(prev_hash=rows[3].hash, **forged)
    await tamper(
        engine,
        # Make room: seq k -> k + 1 for k >= 5 (via a detour, the pair is unique).
        (
            "UPDATE decisions SET seq = seq + 1000 WHERE incident_id = :id AND seq >= 5",
            {"id": ledger.incident_id},
        ),
        (
            "UPDATE decisions SET seq = seq - 999 WHERE incident_id = :id AND seq >= 1000",
            {"id": ledger.incident_id},
        ),
        (
            "INSERT INTO decisions (incident_id, seq, kind, actor, rationale, payload, occurred_at, t_plus_hours,"
            " workflow_id, run_id, recorded_at, prev_hash, hash) SELECT incident_id, 5, 'decline', 'ally:uk',"
            " 'declined after all', '{}', occurred_at, t_plus_hours, workflow_id, run_id, recorded_at,"
            " :prev, :hash FROM decisions WHERE incident_id = :id AND seq = 4",
            {"id": ledger.incident_id, "prev": rows[3].hash, "hash": forged_hash},
        ),
    )
    await _expect_broken(database_url, ledger, 6, "removed or inserted")


async def test_rows_cut_off_the_end_are_seen(database_url, engine, ledger):
    """The chain of the first 10 rows is intact; the incident's outcome is not in it."""
    await tamper(
        engine,
        ("DELETE FROM decisions WHERE incident_id = :id AND seq >= 11", {"id": ledger.incident_id}),
    )
    await _expect_broken(database_url, ledger, 11, "rows were removed from the end")


async def test_a_rebuilt_chain_is_caught_against_the_workflow(engine, sessions, ledger):
    """An attacker who alters a row and recomputes every hash after it fools the chain alone;
    comparing with the workflow's own decisions does not."""
    rows = await rows_of(sessions, ledger.incident_id)
    prev = rows[4].prev_hash
    statements: list[tuple[str, dict[str, Any]]] = []
    for row in rows[4:]:
        rationale = "no quorum was needed" if row.seq == 5 else row.rationale
        digest = row_hash(
            prev_hash=prev, incident_id=row.incident_id, seq=row.seq, kind=row.kind, actor=row.actor,
            rationale=rationale, payload=row.payload, occurred_at=row.occurred_at,
            t_plus_hours=row.t_plus_hours, workflow_id=row.workflow_id,
        )  # fmt: skip
        statements.append(
            (
                "UPDATE decisions SET rationale = :r, prev_hash = :p, hash = :h WHERE incident_id = :id AND seq = :seq",
                {"r": rationale, "p": prev, "h": digest, "id": ledger.incident_id, "seq": row.seq},
            )
        )
        prev = digest
    await tamper(engine, *statements)
    forged = await rows_of(sessions, ledger.incident_id)
    assert (
        check_rows(await incident_of(sessions, ledger.incident_id), forged) is None
    )  # the chain is fooled
    broken = compare_with_timeline(
        ledger.incident_id, ledger.workflow_id, forged, ledger.decisions, 12, True
    )
    assert broken is not None and broken.seq == 5 and "differs from the workflow" in broken.problem


def test_rows_the_workflow_never_decided_are_caught() -> None:
    """A valid-looking row appended after the workflow's last decision (or a ledger shorter
    than a completed workflow's timeline) is named against the workflow."""

    class Row:
        def __init__(self, **kw: Any) -> None:
            self.__dict__.update(kw)

    from db.chain import genesis_hash
    from tests.security.ledger_support import activated_incident

    state, incident_id = activated_incident()
    workflow_id = f"incident-{incident_id}"
    decisions: Sequence[Any] = state.decisions
    prev, rows = genesis_hash(workflow_id), []
    for d in decisions:
        fields = {
            "incident_id": incident_id,
            "seq": d.seq,
            "kind": d.kind,
            "actor": d.actor,
            "rationale": d.rationale,
            "payload": d.payload,
            "occurred_at": d.at,
            "t_plus_hours": d.t_plus_hours,
            "workflow_id": workflow_id,
        }
        digest = row_hash(prev_hash=prev, **fields)
        rows.append(Row(prev_hash=prev, hash=digest, **fields))
        prev = digest
    assert (
        compare_with_timeline(incident_id, workflow_id, rows, decisions, len(decisions), True)
        is None
    )
    appended = dict(
        rows[-1].__dict__, seq=len(rows) + 1, kind="stand_down", prev_hash=rows[-1].hash
    )
    broken = compare_with_timeline(
        incident_id, workflow_id, [*rows, Row(**appended)], decisions, len(decisions), True
    )
    assert broken is not None and broken.seq == 13 and "inserted" in broken.problem
    broken = compare_with_timeline(
        incident_id, workflow_id, rows[:-1], decisions, len(decisions), True
    )
    assert broken is not None and broken.seq == 12 and "missing" in broken.problem
    # While running, the ledger may trail the workflow by the batch in flight: not a break.
    assert (
        compare_with_timeline(
            incident_id, workflow_id, rows[:-1], decisions, len(decisions) - 1, False
        )
        is None
    )


async def test_verify_without_an_incident_checks_them_all(
    database_url, sessions, ledger, ledger_writer
):
    second = await write_ledger(ledger_writer)
    result = await cli_verify(database_url, "--json")
    document = json.loads(result.output)
    audits = {a["incident_id"]: a for a in document["incidents"]}
    # The session's database also holds the ledgers the tests above tampered with.
    assert document["intact"] is all(a["intact"] for a in audits.values())
    assert result.exit_code == (0 if document["intact"] else 1)
    assert audits[ledger.incident_id]["intact"] and audits[second.incident_id]["intact"]
    assert audits[second.incident_id]["rows"] == 12
    missing = await cli_verify(database_url, "nowhere-00000000")
    assert missing.exit_code == 2 and "no incident 'nowhere-00000000'" in missing.output


async def test_the_api_names_a_tampered_row_of_a_live_incident(
    dev_env, run_worker, api, tokens, engine, sessions
):
    """Through the API, on a running workflow: intact, then one forged rationale named by seq."""
    from tests.api.conftest import report

    async with run_worker(dev_env.client), api(dev_env.client) as http:
        body = report(evidence=[{"source": "allied-isr", "summary": "imagery"}])
        incident_id = (
            await http.post("/v1/violations", json=body, headers=tokens.auth("reporter"))
        ).json()["incident_id"]
        receipt = await http.post(
            f"/v1/incidents/{incident_id}/evidence",
            json={"source": "osce-smm"},
            headers=tokens.auth("reporter"),
        )  # answered once it is in the ledger
        assert receipt.status_code == 200, receipt.text
        url = f"/v1/incidents/{incident_id}/ledger/verify"
        clean = (await http.get(url, headers=tokens.auth("observer"))).json()
        assert (
            clean["intact"] is True
            and clean["checked_against_workflow"] is True
            and clean["rows"] >= 3
        )
        await tamper(
            engine,
            (
                "UPDATE decisions SET rationale = 'nothing seen' WHERE incident_id = :id AND seq = 2",
                {"id": incident_id},
            ),
        )
        broken = (await http.get(url, headers=tokens.auth("observer"))).json()
        assert (
            broken["intact"] is False
            and broken["broken_at_seq"] == 2
            and "altered" in broken["problem"]
        )
        missing = await http.get(
            "/v1/incidents/nowhere-00000000/ledger/verify", headers=tokens.auth("observer")
        )
        assert missing.status_code == 404
        assert (await http.get(url)).status_code == 401


async def test_one_verdict_wherever_a_truncated_ledger_is_shown(
    dev_env, database_url, engine, ledger, api, tokens
):
    """The API's ledger, its verify endpoint, the board's timeline and the CLI all give the
    audit's verdict: rows cut off the end are seen by each, not by some."""
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
    assert shown["chain"]["intact"] is False and shown["chain"]["broken_at_seq"] == 11
    assert {k: verified[k] for k in shown["chain"]} == shown["chain"]
    assert "BROKEN at seq 11" in board and "removed from the end" in board
    await _expect_broken(database_url, ledger, 11, "rows were removed from the end")
