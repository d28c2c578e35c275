"""The ledger is append-only in the database, and any tampering done around that is found by
`contingency ledger verify`: altered, removed, inserted, truncated, a chain rebuilt to match, or an
incident row that no longer says what the sealed report says.

Every test runs on SQLite and on PostgreSQL, with the migrations' triggers in place. Forgeries
are made the way an attacker with owner rights would (``ledger_support.tamper``). These ledgers
have no workflow behind them: the chain is checked alone (``--chain-only``) or against the view
the workflow would give; tests/security/test_ledger_anchor.py checks them against Temporal.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from activities.ledger import LedgerActivities
from db.audit import check_rows, compare_heads, compare_with_workflow
from db.chain import row_hash, verify_chain
from tests.security.ledger_support import (
    WrittenLedger,
    activated_incident,
    cli_verify,
    incident_of,
    rechained,
    rows_of,
    tamper,
    write_ledger,
)
from workflows.chain import CHAIN_VERSION
from workflows.state import CURRENT_RULES


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
    # The rows carry the workflow's own seals, in the current format.
    assert [r.hash for r in rows] == [d.hash for d in ledger.decisions]
    assert {r.chain_version for r in rows} == {CHAIN_VERSION}
    assert check_rows(await incident_of(sessions, ledger.incident_id), rows) is None
    assert compare_heads(rows, ledger.view, ledger.view, completed=True) is None
    result = await cli_verify(database_url, ledger.incident_id, "--chain-only")
    assert result.exit_code == 0, result.output
    assert (
        f"{ledger.incident_id}: chain intact (12 rows), not checked against Temporal"
        in result.output
    )


async def _expect_broken(database_url: str, ledger: WrittenLedger, seq: int, words: str) -> None:
    result = await cli_verify(database_url, ledger.incident_id, "--chain-only")
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


async def test_an_edited_run_id_breaks_the_row(database_url, engine, ledger):
    """The run that decided a row is sealed (chain v2): it cannot be passed off as another's."""
    await tamper(
        engine,
        (
            "UPDATE decisions SET run_id = 'another-run' WHERE incident_id = :id AND seq = 3",
            {"id": ledger.incident_id},
        ),
    )
    await _expect_broken(database_url, ledger, 3, "altered")


async def test_an_edited_recorded_at_changes_nothing(database_url, engine, sessions, ledger):
    """recorded_at is the wall-clock time of the attempt that wrote the row: outside the hash,
    so a retried write never conflicts, and editing it breaks nothing."""
    await tamper(
        engine,
        (
            "UPDATE decisions SET recorded_at = :at WHERE incident_id = :id",
            {"id": ledger.incident_id, "at": ledger.view.t0},
        ),
    )
    rows = await rows_of(sessions, ledger.incident_id)
    assert {r.recorded_at for r in rows} == {ledger.view.t0}
    result = await cli_verify(database_url, ledger.incident_id, "--chain-only")
    assert result.exit_code == 0, result.output
    assert compare_heads(rows, ledger.view, ledger.view, completed=True) is None


async def test_a_flipped_exercise_flag_is_broken(database_url, engine, ledger):
    """Flipping incidents.exercise hides a real incident from every real endpoint: the sealed
    report says what it is."""
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE incidents SET exercise = :yes WHERE id = :id"),
            {"yes": True, "id": ledger.incident_id},
        )
    await _expect_broken(database_url, ledger, 1, "incidents.exercise is True")


async def test_a_workflow_id_pointing_elsewhere_is_broken(database_url, engine, ledger):
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE incidents SET workflow_id = :made_up WHERE id = :id"),
            {"made_up": f"incident-made-up-{ledger.incident_id}", "id": ledger.incident_id},
        )
    result = await cli_verify(database_url, ledger.incident_id, "--chain-only")
    assert result.exit_code == 1, result.output
    made_up = f"incident-made-up-{ledger.incident_id}"
    assert f"BROKEN: incidents.workflow_id is {made_up!r}" in result.output, result.output


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
        "run_id": rows[3].run_id, "version": CHAIN_VERSION,
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
            " workflow_id, run_id, recorded_at, chain_version, prev_hash, hash) SELECT incident_id, 5, 'decline',"
            " 'ally:uk', 'declined after all', '{}', occurred_at, t_plus_hours, workflow_id, run_id, recorded_at,"
            " chain_version, :prev, :hash FROM decisions WHERE incident_id = :id AND seq = 4",
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
    the workflow's head does not move."""
    rows = await rows_of(sessions, ledger.incident_id)
    await tamper(engine, *rechained(rows, 5, lambda row: {"rationale": "no quorum was needed"}))
    forged = await rows_of(sessions, ledger.incident_id)
    assert forged[4].rationale == "no quorum was needed"
    incident = await incident_of(sessions, ledger.incident_id)
    assert check_rows(incident, forged) is None  # the chain is fooled
    broken = compare_with_workflow(
        ledger.incident_id, forged, ledger.view, ledger.view, completed=True
    )
    assert broken is not None and broken.seq == 5 and "differs from the workflow" in broken.problem
    # Only the head is needed: a view that holds no decisions any more still catches it.
    headless = type(ledger.view)(**{**ledger.view.__dict__, "timeline": ()})
    broken = compare_heads(forged, headless, headless, completed=True)
    assert broken is not None and broken.seq == 12 and "differs from the workflow" in broken.problem


def test_rows_the_workflow_never_decided_are_caught() -> None:
    """A valid-looking row appended after the workflow's last decision (or a ledger shorter
    than a completed workflow's) is named against the workflow's heads."""

    class Row:
        def __init__(self, **kw: Any) -> None:
            self.__dict__.update(kw)

    state, incident_id = activated_incident()
    workflow_id = f"incident-{incident_id}"
    rows = [
        Row(
            incident_id=incident_id,
            seq=d.seq,
            kind=d.kind,
            actor=d.actor,
            rationale=d.rationale,
            payload=d.payload,
            occurred_at=d.at,
            t_plus_hours=d.t_plus_hours,
            workflow_id=workflow_id,
            run_id=d.run_id,
            chain_version=CHAIN_VERSION,
            prev_hash=d.prev_hash,
            hash=d.hash,
        )
        for d in state.decisions
    ]
    final = state.view(len(rows))
    assert verify_chain(workflow_id, rows) is None  # type: ignore[arg-type]
    assert compare_heads(rows, final, final, completed=True) is None  # type: ignore[arg-type]
    last = rows[-1]
    appended = dict(last.__dict__, seq=len(rows) + 1, kind="stand_down", prev_hash=last.hash)
    broken = compare_heads([*rows, Row(**appended)], final, final, completed=True)  # type: ignore[arg-type]
    assert broken is not None and broken.seq == 13 and "inserted" in broken.problem
    broken = compare_heads(rows[:-1], final, final, completed=True)  # type: ignore[arg-type]
    assert broken is not None and broken.seq == 12 and "removed from the end" in broken.problem
    # While running, the ledger may trail the workflow by the batch in flight: not a break.
    running = state.view(len(rows) - 1)
    assert compare_heads(rows[:-1], running, running, completed=False) is None  # type: ignore[arg-type]


async def test_a_ledger_written_before_decisions_were_sealed_still_verifies(
    ledger_writer, engine, sessions
):
    """Incidents started before the sealed-ledger patch: the writer hashes their unsealed
    decisions in the first format (chain version 1), and the audit checks them against the
    workflow's whole timeline, as it always did."""
    old = await write_ledger(ledger_writer, replace(CURRENT_RULES, sealed_ledger=False))
    assert not any(d.hash for d in old.decisions)
    rows = await rows_of(sessions, old.incident_id)
    assert {r.chain_version for r in rows} == {1} and len(rows) == 12
    assert check_rows(await incident_of(sessions, old.incident_id), rows) is None
    assert compare_with_workflow(old.incident_id, rows, old.view, old.view, completed=True) is None
    await tamper(engine, *rechained(rows, 5, lambda row: {"rationale": "no quorum was needed"}))
    forged = await rows_of(sessions, old.incident_id)
    assert check_rows(await incident_of(sessions, old.incident_id), forged) is None
    broken = compare_with_workflow(old.incident_id, forged, old.view, old.view, completed=True)
    assert broken is not None and broken.seq == 5 and "differs from the workflow" in broken.problem


async def test_verify_without_an_incident_checks_them_all(
    database_url, sessions, ledger, ledger_writer
):
    second = await write_ledger(ledger_writer)
    result = await cli_verify(database_url, "--json", "--chain-only")
    document = json.loads(result.output)
    audits = {a["incident_id"]: a for a in document["incidents"]}
    # The session's database also holds the ledgers the tests above tampered with.
    broken = [a for a in audits.values() if a["verdict"] == "broken"]
    assert result.exit_code == (1 if broken else 0) == document["exit_status"]
    assert document["intact"] is False  # chain only: nothing here is anchored to Temporal
    for written in (ledger, second):
        assert audits[written.incident_id]["verdict"] == "unchecked"
        assert audits[written.incident_id]["rows"] == 12
    missing = await cli_verify(database_url, "nowhere-00000000", "--chain-only")
    assert missing.exit_code == 2 and "no incident 'nowhere-00000000'" in missing.output
