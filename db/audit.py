"""Auditing the ledger: recompute each incident's hash chain and report the first broken row.

Three checks, the later ones only where they can be made:

1. the chain: every row seals its content and the hash of the row before it, from a genesis hash
   of the workflow id (``db.chain.verify_chain``): an altered, removed or inserted row breaks it;
2. the end: a closed incident's ledger holds its outcome decision, so cutting rows off the end
   is seen too (the chain alone cannot see a truncation);
3. the workflow: with a Temporal client, every row is compared with the decision the workflow
   itself took (its query while running, its result once completed). The chain's hash has no
   secret, so someone able to write the table could rebuild a consistent chain; they cannot
   rewrite the workflow's event history, which this check anchors to.

Every place that shows a verdict (the API's ledger and its verify endpoint, the board's timeline,
``contingency ledger`` and ``contingency ledger verify``) calls :func:`audited_ledger`, so one
ledger never gets two verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from db.chain import ChainBreak, decision_hash, genesis_hash, verify_chain
from db.models import Incident, LedgerDecision
from db.repository import IncidentRepository
from foundation.ids import workflow_id_for
from workflows.lookup import look_up
from workflows.messages import Decision


@dataclass(frozen=True)
class LedgerAudit:
    incident_id: str
    workflow_id: str
    rows: int
    intact: bool
    broken_at_seq: int | None = None
    problem: str | None = None
    # True when the rows were also compared with the workflow's own decisions.
    checked_against_workflow: bool = False

    def line(self) -> str:
        anchor = ", matches the workflow" if self.checked_against_workflow else ""
        if self.intact:
            return f"{self.incident_id}: intact ({self.rows} rows{anchor})"
        return f"{self.incident_id}: BROKEN at seq {self.broken_at_seq}: {self.problem}"


def check_rows(incident: Incident, rows: Sequence[LedgerDecision]) -> ChainBreak | None:
    """Checks 1 and 2: the chain, and a closed incident's outcome present."""
    broken = verify_chain(workflow_id_for(incident.id), rows)
    if broken is not None:
        return broken
    if incident.outcome is not None and not any(r.kind == incident.outcome for r in rows):
        last = rows[-1].seq if rows else 0
        return ChainBreak(
            last + 1,
            f"the incident closed ({incident.outcome}) but its ledger ends at seq {last} "
            "without that decision (rows were removed from the end)",
        )
    return None


def compare_with_timeline(
    incident_id: str,
    workflow_id: str,
    rows: Sequence[LedgerDecision],
    timeline: Sequence[Decision],
    persisted: int,
    completed: bool,
    decided: int,
) -> ChainBreak | None:
    """Check 3: the hashes the workflow's decisions give, seq by seq, against the stored ones.

    ``persisted`` is how many decisions the workflow knows to be in the ledger: the ledger holds
    at least those and at most the whole timeline (a batch may land before the workflow hears
    back), and exactly the whole timeline once the workflow has completed.
    """
    by_seq = {row.seq: row for row in rows}
    # The workflow holds only its latest decisions: the chain (already verified) links the rows
    # before them, so the first one held is compared from the stored row before it.
    first = timeline[0].seq if timeline else 1
    before = by_seq.get(first - 1)
    if first > 1 and before is None:
        return ChainBreak(
            first - 1, f"decision {first - 1} of the workflow is missing from the ledger"
        )
    prev = genesis_hash(workflow_id) if first == 1 else before.hash
    for decision in timeline:
        expected = decision_hash(prev, incident_id, workflow_id, decision)
        row = by_seq.get(decision.seq)
        if row is None:
            if decision.seq <= persisted:
                return ChainBreak(
                    decision.seq,
                    f"decision {decision.seq} ({decision.kind}) of the workflow is missing from the ledger",
                )
            break
        if row.hash != expected:
            return ChainBreak(
                decision.seq,
                f"row {decision.seq} ({row.kind}) differs from the workflow's decision {decision.seq} ({decision.kind})",
            )
        prev = expected
    extra = [r.seq for r in rows if r.seq > decided]
    if extra:
        return ChainBreak(
            extra[0],
            f"row {extra[0]} is not a decision of the workflow (it has {decided}): inserted",
        )
    if completed and len(rows) < decided:
        return ChainBreak(
            len(rows) + 1,
            f"the ledger ends at seq {len(rows)}; the workflow decided {decided}",
        )
    return None


async def _workflow_decisions(
    client: Client, incident_id: str
) -> tuple[tuple[Decision, ...], int, bool, int] | None:
    """(latest decisions, persisted count, completed, decisions taken) from the workflow, or
    None when it cannot say."""
    try:
        found = await look_up(client, incident_id)
    except Exception:  # noqa: BLE001 (Temporal down, a query it cannot answer: no anchor, not a crash)
        return None
    if found is None or found.view is None:
        return None
    view = found.view
    # An older engine's view held the whole timeline and no count.
    decided = view.decisions_total or len(view.timeline)
    if found.running:
        return view.timeline, view.persisted_seq, False, decided
    return view.timeline, decided, True, decided


async def audited_ledger(
    sessions: async_sessionmaker[AsyncSession], incident: Incident, client: Client | None = None
) -> tuple[LedgerAudit, list[LedgerDecision]]:
    """The verdict on an incident's ledger, with the rows it was given on: the one audit every
    view that shows a verdict calls (the API's ledger and verify, the board, the CLI)."""
    workflow_id = workflow_id_for(incident.id)
    # A running incident keeps writing while it is audited. Ask the workflow before reading the
    # rows (what it knows to be persisted is then already in them) and again after (its timeline
    # then covers every row legitimately written in between).
    before = None if client is None else await _workflow_decisions(client, incident.id)
    async with sessions() as session:
        rows = await IncidentRepository(session).ledger(incident.id)
    broken = check_rows(incident, rows)
    anchored = False
    if broken is None and client is not None and before is not None:
        _, persisted, completed, _ = before
        after = before if completed else await _workflow_decisions(client, incident.id)
        if after is not None:
            # Complete only if it already was when the rows were read.
            broken = compare_with_timeline(
                incident.id, workflow_id, rows, after[0], persisted, completed, after[3]
            )
            anchored = True
    audit = LedgerAudit(
        incident_id=incident.id,
        workflow_id=workflow_id,
        rows=len(rows),
        intact=broken is None,
        broken_at_seq=None if broken is None else broken.seq,
        problem=None if broken is None else broken.problem,
        checked_against_workflow=anchored,
    )
    return audit, rows


async def audit_incident(
    sessions: async_sessionmaker[AsyncSession], incident: Incident, client: Client | None = None
) -> LedgerAudit:
    return (await audited_ledger(sessions, incident, client))[0]


async def find_incident(
    sessions: async_sessionmaker[AsyncSession], incident_id: str
) -> Incident | None:
    async with sessions() as session:
        return await IncidentRepository(session).get(incident_id)


async def audit_all(
    sessions: async_sessionmaker[AsyncSession], client: Client | None = None
) -> list[LedgerAudit]:
    async with sessions() as session:
        incidents = await IncidentRepository(session).every_incident()
    return [await audit_incident(sessions, incident, client) for incident in incidents]
