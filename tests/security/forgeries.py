"""A catalogue of ledger forgeries, applied to the database an attack run leaves behind, each
followed by the project's audit: how many were tried, how many the audit caught, and how many
untouched incidents it wrongly called broken (false alarms, which must be none).

Forgeries are made as a privileged attacker would: the decisions table's append-only triggers
(migration 0003) are out of the way for the one transaction (PostgreSQL: replica mode; SQLite:
dropped and re-created). Each forgery touches its own incidents, so one cannot hide another.

A forgery counts as detected when every audit names each incident it touched: the audit of the
incident right after the forgery (``db.audit.audited_ledger``, or ``audit_all`` for an incident
whose row is gone), ``audit_all`` after the whole catalogue, and ``contingency ledger verify
--against-workflow``. The audit is written against ``intact`` and, where the audit has one, a
``verdict`` other than ``intact``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client

from db.audit import audit_all, audited_ledger
from db.chain import genesis_hash, row_hash
from db.models import Incident, LedgerDecision, Notification, Report, StoredText
from db.repository import IncidentRepository
from db.texts import ref_in

ROOT = Path(__file__).resolve().parents[2]
DECISIONS = LedgerDecision.__table__
INCIDENTS = Incident.__table__
HASHED = (
    "incident_id",
    "seq",
    "kind",
    "actor",
    "rationale",
    "payload",
    "occurred_at",
    "t_plus_hours",
    "workflow_id",
)
Tamper = Callable[[AsyncConnection], Awaitable[None]]


@dataclass(frozen=True)
class Forgery:
    name: str
    targets: tuple[str, ...]  # every incident it touches
    tamper: Tamper


@dataclass
class ForgeryReport:
    tried: list[str] = field(default_factory=list)
    detected: list[str] = field(default_factory=list)
    missed: dict[str, str] = field(default_factory=dict)  # name -> what the audits said
    not_tried: dict[str, str] = field(default_factory=dict)  # name -> why not
    false_alarms: dict[str, str] = field(default_factory=dict)  # untouched incident -> verdict
    baseline_alarms: dict[str, str] = field(default_factory=dict)  # before any forgery


def _migration_0003() -> Any:
    path = next((ROOT / "db" / "migrations" / "versions").glob("*_0003_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def tamper(engine: AsyncEngine, forge: Tamper) -> None:
    sqlite = engine.dialect.name == "sqlite"
    async with engine.begin() as conn:
        if sqlite:
            await conn.execute(text("DROP TRIGGER IF EXISTS decisions_no_update"))
            await conn.execute(text("DROP TRIGGER IF EXISTS decisions_no_delete"))
        else:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await forge(conn)
        if sqlite:
            for statement in _migration_0003().SQLITE_UP:
                await conn.execute(text(statement))


def flagged(audit: Any) -> bool:
    """Whether an audit (a LedgerAudit or its JSON) says anything but intact."""
    get = audit.get if isinstance(audit, dict) else lambda k, d=None: getattr(audit, k, d)
    return not get("intact", False) or get("verdict", "intact") not in (None, "intact")


def verdict_of(audit: Any) -> str:
    get = audit.get if isinstance(audit, dict) else lambda k, d=None: getattr(audit, k, d)
    return f"{get('verdict', 'intact' if get('intact') else 'broken')}: {get('problem')}"


def _rechained(
    rows: Sequence[LedgerDecision], prev: str, changes: dict[int, dict[str, Any]], **common: Any
) -> list[dict[str, Any]]:
    """The rows with their changes and every hash after them recomputed: a chain that verifies
    on its own."""
    out = []
    for row in rows:
        values = {name: getattr(row, name) for name in HASHED}
        values.update(common)
        values.update(changes.get(row.seq, {}))
        digest = row_hash(prev_hash=prev, **values)
        out.append({**values, "prev_hash": prev, "hash": digest, "id": row.id})
        prev = digest
    return out


async def _write_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        values = {k: v for k, v in row.items() if k != "id"}
        await conn.execute(update(DECISIONS).where(DECISIONS.c.id == row["id"]).values(**values))


def catalogue(
    ledgers: dict[str, list[LedgerDecision]], incidents: dict[str, Incident]
) -> tuple[list[Forgery], dict[str, str]]:
    """One forgery of each kind, each on incidents of its own (taken in order from ``ledgers``)."""
    free = [i for i, rows in ledgers.items() if len(rows) >= 5]
    with_text = [i for i in free if any(ref_in(r.payload) for r in ledgers[i])]
    forgeries: list[Forgery] = []
    skipped: dict[str, str] = {}

    def take(pool: list[str] | None = None) -> str | None:
        for incident_id in free if pool is None else pool:
            if incident_id in free:
                free.remove(incident_id)
                return incident_id
        return None

    def add(name: str, make: Callable[..., Tamper], count: int = 1, pool: list[str] | None = None):
        ids = [take(pool) for _ in range(count)]
        if None in ids:
            skipped[name] = "no incident left with a ledger fit for it"
            return
        forgeries.append(Forgery(name, tuple(ids), make(*ids)))  # type: ignore[arg-type]

    def edit(column: str, value: Callable[[LedgerDecision], Any]) -> Callable[[str], Tamper]:
        def make(incident_id: str) -> Tamper:
            row = ledgers[incident_id][1]

            async def forge(conn: AsyncConnection) -> None:
                await conn.execute(
                    update(DECISIONS).where(DECISIONS.c.id == row.id).values({column: value(row)})
                )

            return forge

        return make

    def rebuilt(incident_id: str) -> Tamper:
        rows = ledgers[incident_id]
        changes = {rows[2].seq: {"rationale": "no quorum was ever needed"}}
        return lambda conn: _write_rows(conn, _rechained(rows[2:], rows[2].prev_hash, changes))

    def delete_seqs(pick: Callable[[list[LedgerDecision]], list[LedgerDecision]]):
        def make(incident_id: str) -> Tamper:
            ids = [r.id for r in pick(ledgers[incident_id])]

            async def forge(conn: AsyncConnection) -> None:
                await conn.execute(delete(DECISIONS).where(DECISIONS.c.id.in_(ids)))

            return forge

        return make

    def appended(incident_id: str) -> Tamper:
        last = ledgers[incident_id][-1]
        values = {name: getattr(last, name) for name in HASHED}
        values.update(seq=last.seq + 1, kind="authorized", actor="nac-chair", rationale="forged")
        digest = row_hash(prev_hash=last.hash, **values)

        async def forge(conn: AsyncConnection) -> None:
            await conn.execute(
                insert(DECISIONS).values(
                    **values,
                    run_id=last.run_id,
                    recorded_at=last.recorded_at,
                    prev_hash=last.hash,
                    hash=digest,
                )
            )

        return forge

    def inserted(incident_id: str) -> Tamper:
        rows = ledgers[incident_id]
        at = rows[2]
        forged = {name: getattr(at, name) for name in HASHED}
        forged.update(kind="decline", actor="ally:uk", rationale="declined after all")
        forged_hash = row_hash(prev_hash=at.prev_hash, **forged)
        # The rows after it keep their hashes but move one seq on: a chain broken after the insert.
        shifted = [r.id for r in rows[2:]]

        async def forge(conn: AsyncConnection) -> None:
            where = DECISIONS.c.id.in_(shifted)
            await conn.execute(update(DECISIONS).where(where).values(seq=DECISIONS.c.seq + 1000))
            await conn.execute(update(DECISIONS).where(where).values(seq=DECISIONS.c.seq - 999))
            await conn.execute(
                insert(DECISIONS).values(
                    **forged,
                    run_id=at.run_id,
                    recorded_at=at.recorded_at,
                    prev_hash=at.prev_hash,
                    hash=forged_hash,
                )
            )

        return forge

    def moved(source: str, target: str) -> Tamper:
        row, onto = ledgers[source][-1], ledgers[target][-1]
        values = {name: getattr(row, name) for name in HASHED}
        values.update(incident_id=target, seq=onto.seq + 1, workflow_id=onto.workflow_id)
        digest = row_hash(prev_hash=onto.hash, **values)

        async def forge(conn: AsyncConnection) -> None:
            await conn.execute(
                update(DECISIONS)
                .where(DECISIONS.c.id == row.id)
                .values(**values, prev_hash=onto.hash, hash=digest)
            )

        return forge

    def repointed(incident_id: str) -> Tamper:
        """The bypass of issue 12: a decision edited, the incident's workflow id pointed at a
        made-up workflow, and the chain recomputed from that id's genesis."""
        rows = ledgers[incident_id]
        elsewhere = f"incident-forged-{incident_id[-8:]}"
        changes = {rows[1].seq: {"rationale": "nothing happened"}}
        rechained = _rechained(rows, genesis_hash(elsewhere), changes, workflow_id=elsewhere)

        async def forge(conn: AsyncConnection) -> None:
            await conn.execute(
                update(INCIDENTS).where(INCIDENTS.c.id == incident_id).values(workflow_id=elsewhere)
            )
            await _write_rows(conn, rechained)

        return forge

    def flipped(incident_id: str) -> Tamper:
        exercise = incidents[incident_id].exercise

        async def forge(conn: AsyncConnection) -> None:
            await conn.execute(
                update(INCIDENTS).where(INCIDENTS.c.id == incident_id).values(exercise=not exercise)
            )

        return forge

    def emptied(incident_id: str) -> Tamper:
        async def forge(conn: AsyncConnection) -> None:
            await conn.execute(delete(DECISIONS).where(DECISIONS.c.incident_id == incident_id))

        return forge

    def vanished(incident_id: str) -> Tamper:
        async def forge(conn: AsyncConnection) -> None:
            await conn.execute(delete(DECISIONS).where(DECISIONS.c.incident_id == incident_id))
            await conn.execute(
                delete(Notification.__table__).where(
                    Notification.__table__.c.incident_id == incident_id
                )
            )
            await conn.execute(
                delete(Report.__table__).where(Report.__table__.c.incident_id == incident_id)
            )
            await conn.execute(delete(INCIDENTS).where(INCIDENTS.c.id == incident_id))

        return forge

    def edited_text(incident_id: str) -> Tamper:
        sha = next(ref for r in ledgers[incident_id] if (ref := ref_in(r.payload)))
        texts = StoredText.__table__

        async def forge(conn: AsyncConnection) -> None:
            await conn.execute(
                update(texts)
                .where(texts.c.sha256 == sha)
                .values(body=texts.c.body + " (and nothing was seen)")
            )

        return forge

    # The one that needs a particular ledger first, before the others take it.
    add("edit a stored long text", edited_text, pool=with_text)
    add("edit a row's rationale", edit("rationale", lambda r: r.rationale + " (not really)"))
    add("edit a row's payload", edit("payload", lambda r: {**r.payload, "forged": True}))
    add("edit a row's actor", edit("actor", lambda r: "someone-else"))
    add("edit a row and recompute the chain", rebuilt)
    add("delete a middle row", delete_seqs(lambda rows: [rows[len(rows) // 2]]))
    add("delete the last rows", delete_seqs(lambda rows: rows[-2:]))
    add("append a chained row", appended)
    add("insert a row in the middle", inserted)
    add("move a row to another incident", moved, count=2)
    add("point incidents.workflow_id elsewhere, chain recomputed", repointed)
    add("flip incidents.exercise", flipped)
    add("delete all rows of an incident", emptied)
    add("delete an incident and its rows", vanished)
    return forgeries, skipped


async def _audits_of(
    sessions: async_sessionmaker[AsyncSession], client: Client, ids: Sequence[str]
) -> dict[str, Any]:
    """The audit of each incident that still has its row; audit_all's for one that has not."""
    out: dict[str, Any] = {}
    async with sessions() as session:
        repo = IncidentRepository(session)
        rows = {i: await repo.get(i) for i in ids}
    everything = None
    for incident_id, incident in rows.items():
        if incident is not None:
            out[incident_id] = (await audited_ledger(sessions, incident, client))[0]
            continue
        if everything is None:
            everything = {a.incident_id: a for a in await audit_all(sessions, client)}
        out[incident_id] = everything.get(incident_id)
    return out


async def cli_verify(database_url: str, temporal_address: str) -> dict[str, dict[str, Any]]:
    """``contingency ledger verify --against-workflow --json`` over the whole database."""
    command = Path(sys.executable).parent / "contingency"
    process = await asyncio.create_subprocess_exec(
        str(command), "ledger", "verify", "--against-workflow", "--json",
        "--database-url", database_url,
        cwd=ROOT,
        env={**os.environ, "TEMPORAL_ADDRESS": temporal_address},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode not in (0, 1):
        raise AssertionError(f"ledger verify exited {process.returncode}: {err.decode()[-2000:]}")
    return {a["incident_id"]: a for a in json.loads(out)["incidents"]}


async def forge_and_audit(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    client: Client,
    database_url: str,
    temporal_address: str,
    incidents: set[str],
) -> ForgeryReport:
    """Every forgery of the catalogue on closed incidents of ``incidents``; the audits after each
    and after all; false alarms on the incidents left untouched."""
    report = ForgeryReport()
    async with sessions() as session:
        repo = IncidentRepository(session)
        rows = {i: await repo.get(i) for i in sorted(incidents)}
        closed = {i: r for i, r in rows.items() if r is not None and r.outcome and not r.exercise}
        ledgers = {i: await repo.ledger(i) for i in closed}

    before = await _audits_of(sessions, client, sorted(i for i, r in rows.items() if r))
    report.baseline_alarms = {i: verdict_of(a) for i, a in before.items() if a and flagged(a)}

    forgeries, report.not_tried = catalogue(ledgers, closed)
    missed_now: dict[str, list[str]] = {}
    for forgery in forgeries:
        await tamper(engine, forgery.tamper)
        report.tried.append(forgery.name)
        audits = await _audits_of(sessions, client, forgery.targets)
        missed_now[forgery.name] = [
            f"{i} intact right after" if a is not None else f"{i} not audited at all"
            for i, a in audits.items()
            if a is None or not flagged(a)
        ]

    touched = {i for f in forgeries for i in f.targets}
    final = {a.incident_id: a for a in await audit_all(sessions, client)}
    cli = await cli_verify(database_url, temporal_address)
    for forgery in forgeries:
        missed = list(missed_now[forgery.name])
        for incident_id in forgery.targets:
            if incident_id not in final or not flagged(final[incident_id]):
                missed.append(f"{incident_id} intact to audit_all")
            if incident_id not in cli or not flagged(cli[incident_id]):
                missed.append(f"{incident_id} intact to ledger verify")
        if missed:
            report.missed[forgery.name] = "; ".join(missed)
        else:
            report.detected.append(forgery.name)
    for incident_id in sorted(incidents - touched):
        for source, audits in (("audit_all", final), ("ledger verify", cli)):
            audit = audits.get(incident_id)
            if audit is not None and flagged(audit):
                report.false_alarms[incident_id] = f"{source}: {verdict_of(audit)}"
    return report
