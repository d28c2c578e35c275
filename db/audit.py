"""Auditing the ledger: each incident's rows against their hash chain, their incident, and what
Temporal itself records of the incident; one verdict per incident.

1. The chain: every row seals its content and the hash of the row before it, from a genesis hash
   of the workflow id derived from the incident id (``db.chain.verify_chain``): an altered,
   removed or inserted row breaks it.
2. The incident: its row names the incident's own workflow, its ``exercise`` flag and report
   are those the sealed ``reported`` row holds, and a closed incident's ledger holds its outcome.
3. Temporal: the workflow is found by the incident id, never by a column of the database. The
   chain has no secret, so someone able to write the tables could rebuild a consistent chain;
   they cannot rewrite the workflow's history. The workflow seals each decision as it records
   it, so the heads are compared: the hash of the last decision the workflow knows to be
   persisted, and the recent decisions it still holds, must be the rows' hashes at those seqs,
   and a completed workflow's final seq and head are where the ledger must end.

An audit that could not compare with Temporal is not "intact": every outcome is a
:class:`Verdict`. Every place that shows a verdict (the API's ledger and its verify endpoint, the
board's timeline, ``contingency ledger`` and ``contingency ledger verify``) calls this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus

from db.chain import ChainBreak, decision_hash, genesis_hash, verify_chain
from db.models import Incident, LedgerDecision
from db.repository import IncidentRepository
from db.texts import digest as text_digest
from db.texts import ref_in, texts_for
from foundation.ids import workflow_id_for
from workflows import execution_record as temporal
from workflows.chain import LEGACY_CHAIN_VERSION
from workflows.decisions import OUTCOME_VALUES, DecisionKind, closes_incident
from workflows.incident import IncidentWorkflow
from workflows.messages import Decision, IncidentView, Outcome


class Verdict(StrEnum):
    INTACT = "intact"  # the chain holds and matches what the workflow decided
    BROKEN = "broken"  # a row, or the incident's row, is not what was decided
    UNANCHORED = "unanchored"  # no workflow answers for this incident: nothing to compare with
    BEYOND_RETENTION = "beyond_retention"  # closed longer ago than Temporal keeps histories
    VANISHED = "vanished"  # Temporal knows the incident; the database holds none of its rows
    TERMINATED = "terminated"  # ended in Temporal outside the ledger (the Web UI's Terminate)
    FORKED = "forked"  # reset in Temporal: decided twice (unsupported)
    UNCHECKED = "unchecked"  # the chain alone was checked, and holds

    @property
    def found_wrong(self) -> bool:
        return self in FOUND_WRONG

    @property
    def anchored(self) -> bool:
        return self not in NOT_ANCHORED


FOUND_WRONG = frozenset({Verdict.BROKEN, Verdict.VANISHED, Verdict.TERMINATED, Verdict.FORKED})
NOT_ANCHORED = frozenset({Verdict.UNANCHORED, Verdict.BEYOND_RETENTION})


@dataclass(frozen=True)
class LedgerAudit:
    incident_id: str
    workflow_id: str
    rows: int
    verdict: Verdict
    # The verdict in one line, for every place that shows it.
    summary: str
    broken_at_seq: int | None = None
    problem: str | None = None
    # True when the rows were also compared with the workflow's own decisions.
    checked_against_workflow: bool = False
    # Who cancelled the workflow from Temporal (its history's cancel request), if it was.
    cancelled_by: str | None = None
    intact: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "intact", self.verdict is Verdict.INTACT)

    def line(self) -> str:
        return f"{self.incident_id}: {self.summary}"


def _audit(
    incident_id: str,
    rows: int,
    verdict: Verdict,
    detail: str = "",
    *,
    broken: ChainBreak | None = None,
    anchored: bool = False,
    cancelled_by: str | None = None,
) -> LedgerAudit:
    count = f"{rows} rows"
    if verdict is Verdict.BROKEN and broken is not None:
        at = f" at seq {broken.seq}" if broken.seq is not None else ""
        summary = f"BROKEN{at}: {broken.problem}"
    elif verdict is Verdict.INTACT:
        by = f"; cancelled from Temporal by {cancelled_by}" if cancelled_by else ""
        summary = f"intact ({count}, matches the workflow{by})"
    elif verdict is Verdict.UNCHECKED:
        summary = f"chain intact ({count}), not checked against Temporal"
    else:
        summary = f"{verdict.upper()}: {detail} ({count})"
    return LedgerAudit(
        incident_id=incident_id,
        workflow_id=workflow_id_for(incident_id),
        rows=rows,
        verdict=verdict,
        summary=summary,
        broken_at_seq=None if broken is None else broken.seq,
        problem=None if broken is None else broken.problem,
        checked_against_workflow=anchored,
        cancelled_by=cancelled_by,
    )


# -- checks 1 and 2: the rows and the incident's row ---------------------------------------------


def check_texts(rows: Sequence[LedgerDecision], stored: dict[str, str]) -> ChainBreak | None:
    """A long text lives in ``texts``, its digest in the sealed payload: the stored whole must
    still be there and still give that digest."""
    for row in rows:
        ref = ref_in(row.payload)
        if ref is None:
            continue
        if ref not in stored:
            return ChainBreak(row.seq, f"the stored text of row {row.seq} is missing")
        if text_digest(stored[ref]) != ref:
            return ChainBreak(
                row.seq, f"the stored text of row {row.seq} does not match its sealed digest"
            )
    return None


def check_rows(incident: Incident, rows: Sequence[LedgerDecision]) -> ChainBreak | None:
    """The chain, the incident's row against its sealed report, and a closed incident's outcome."""
    workflow_id = workflow_id_for(incident.id)
    if incident.workflow_id != workflow_id:
        return ChainBreak(
            None,
            f"incidents.workflow_id is {incident.workflow_id!r}, not the incident's own workflow "
            f"{workflow_id!r}",
        )
    broken = verify_chain(workflow_id, rows)
    if broken is not None:
        return broken
    reported = rows[0] if rows and rows[0].kind == DecisionKind.REPORTED else None
    if reported is not None:
        sealed = reported.payload
        for column, key in (
            ("exercise", "exercise"),
            ("report_id", "report_id"),
            ("plan_id", "plan_id"),
            ("plan_version", "plan_version"),
        ):
            if key in sealed and getattr(incident, column) != sealed[key]:
                return ChainBreak(
                    1,
                    f"incidents.{column} is {getattr(incident, column)!r}; the sealed report "
                    f"says {sealed[key]!r}",
                )
    if incident.outcome is not None and not any(r.kind == incident.outcome for r in rows):
        last = rows[-1].seq if rows else 0
        return ChainBreak(
            last + 1,
            f"the incident closed ({incident.outcome}) but its ledger ends at seq {last} "
            "without that decision (rows were removed from the end)",
        )
    if incident.termination_rationale is not None and not any(
        r.kind == DecisionKind.TERMINATED for r in rows
    ):
        last = rows[-1].seq if rows else 0
        return ChainBreak(
            last + 1,
            f"the response was terminated but its ledger ends at seq {last} without the "
            "termination (rows were removed from the end)",
        )
    return None


# -- check 3: against the workflow ---------------------------------------------------------------


def _last_seq(view: IncidentView) -> int:
    # The decisions the workflow has taken; the view holds a recent window of them.
    return view.timeline[-1].seq if view.timeline else view.persisted_seq


def unanchored(audit: LedgerAudit, reason: str) -> LedgerAudit:
    """A chain-only verdict where the check against Temporal was wanted but could not be made."""
    if audit.verdict is not Verdict.UNCHECKED:
        return audit
    return _audit(audit.incident_id, audit.rows, Verdict.UNANCHORED, reason)


def compare_heads(
    rows: Sequence[LedgerDecision],
    before: IncidentView,
    after: IncidentView,
    completed: bool,
) -> ChainBreak | None:
    """The rows against a sealing workflow's heads: ``before`` was asked before the rows were
    read (what it knew persisted is in them), ``after`` after (its decisions cover every row
    written in between); the same view twice once the workflow has completed."""
    by_seq = {row.seq: row for row in rows}
    last_row = rows[-1].seq if rows else 0
    if last_row < before.persisted_seq:
        return ChainBreak(
            last_row + 1,
            f"the ledger ends at seq {last_row}; the workflow knows {before.persisted_seq} "
            "to be in it (rows were removed from the end)",
        )
    kinds = {d.seq: d.kind for d in after.timeline}
    anchors = {d.seq: d.hash for d in after.timeline}
    for view in (before, after):
        if view.persisted_seq and view.persisted_head:
            anchors[view.persisted_seq] = view.persisted_head
    for seq in sorted(anchors):
        row = by_seq.get(seq)
        if row is not None and anchors[seq] and row.hash != anchors[seq]:
            decided = kinds.get(seq, "the head it knows persisted")
            return ChainBreak(
                seq,
                f"row {seq} ({row.kind}) differs from the workflow's decision {seq} ({decided})",
            )
    decided = _last_seq(after)
    if last_row > decided:
        return ChainBreak(
            decided + 1,
            f"row {decided + 1} is not a decision of the workflow (it has {decided}): inserted",
        )
    if completed and last_row < decided:
        return ChainBreak(
            last_row + 1, f"the ledger ends at seq {last_row}; the workflow decided {decided}"
        )
    return None


def compare_with_timeline(
    incident_id: str,
    workflow_id: str,
    rows: Sequence[LedgerDecision],
    timeline: Sequence[Decision],
    persisted: int,
    completed: bool,
) -> ChainBreak | None:
    """For incidents started before the workflow sealed its decisions: the first-format hash of
    each decision of the whole timeline, seq by seq, against the stored ones.

    ``persisted`` is how many decisions the workflow knows to be in the ledger: the ledger holds
    at least those and at most the whole timeline (a batch may land before the workflow hears
    back), and exactly the whole timeline once the workflow has completed.
    """
    prev = genesis_hash(workflow_id)
    by_seq = {row.seq: row for row in rows}
    for decision in timeline:
        expected = decision_hash(prev, incident_id, workflow_id, decision, LEGACY_CHAIN_VERSION)
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
    extra = [r.seq for r in rows if r.seq > len(timeline)]
    if extra:
        return ChainBreak(
            extra[0],
            f"row {extra[0]} is not a decision of the workflow (it has {len(timeline)}): inserted",
        )
    if completed and len(rows) < len(timeline):
        return ChainBreak(
            len(rows) + 1,
            f"the ledger ends at seq {len(rows)}; the workflow decided {len(timeline)}",
        )
    return None


class CannotCompare(Exception):
    """The workflow cannot say what the rows should be (an unsealed incident's partial view)."""


def compare_with_workflow(
    incident_id: str,
    rows: Sequence[LedgerDecision],
    before: IncidentView,
    after: IncidentView,
    completed: bool,
) -> ChainBreak | None:
    sealed = bool(before.persisted_head) or any(d.hash for d in after.timeline)
    if sealed:
        return compare_heads(rows, before, after, completed)
    if after.timeline and after.timeline[0].seq != 1:
        raise CannotCompare(
            "the workflow predates sealed decisions and no longer holds its whole timeline"
        )
    persisted = _last_seq(after) if completed else before.persisted_seq
    return compare_with_timeline(
        incident_id, workflow_id_for(incident_id), rows, after.timeline, persisted, completed
    )


# A running workflow's query needs a worker; without one the audit waits no longer than this.
QUERY_TIMEOUT = timedelta(seconds=10)


async def _view(client: Client, incident_id: str, status: WorkflowExecutionStatus) -> IncidentView:
    handle = client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id_for(incident_id))
    if status is WorkflowExecutionStatus.COMPLETED:
        try:
            return await handle.result()  # the final view needs no worker
        except TypeError:
            pass  # written by an older engine in another shape: the query answers in today's
    return await handle.query(IncidentWorkflow.state, rpc_timeout=QUERY_TIMEOUT)


@dataclass
class _Anchor:
    """What Temporal said of the incident before the rows were read."""

    execution: temporal.Execution | None
    view: IncidentView | None = None
    failure: str | None = None


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


async def _anchor(client: Client, incident_id: str, *, with_view: bool = True) -> _Anchor:
    # Any failure (Temporal down, a query a workflow without a worker cannot answer) leaves the
    # ledger unanchored; it never fails the audit.
    try:
        execution = await temporal.describe(client, incident_id)
    except Exception as exc:  # noqa: BLE001
        return _Anchor(None, failure=f"Temporal did not answer ({_reason(exc)})")
    if (
        not with_view
        or execution is None
        or execution.status
        not in (
            WorkflowExecutionStatus.RUNNING,
            WorkflowExecutionStatus.COMPLETED,
        )
    ):
        return _Anchor(execution)
    try:
        return _Anchor(execution, await _view(client, incident_id, execution.status))
    except Exception as exc:  # noqa: BLE001
        return _Anchor(execution, failure=f"the workflow did not answer ({_reason(exc)})")


async def _against_temporal(
    client: Client,
    incident_id: str,
    has_row: bool,
    rows: Sequence[LedgerDecision],
    before: _Anchor,
    now: datetime,
) -> LedgerAudit:
    execution = before.execution
    if execution is None:
        if before.failure is not None:
            return _audit(incident_id, len(rows), Verdict.UNANCHORED, before.failure)
        return await _no_workflow(client, incident_id, rows, now)
    if execution.reset_at is not None:
        return _audit(
            incident_id,
            len(rows),
            Verdict.FORKED,
            f"the workflow was reset in Temporal at {execution.reset_at.isoformat()}: the steps "
            "after the reset point were decided again, which the ledger cannot hold (Reset is "
            "unsupported)",
        )
    status = execution.status
    if status is WorkflowExecutionStatus.TERMINATED:
        return await _terminated(client, incident_id, rows, execution)
    view = before.view
    completed = status is WorkflowExecutionStatus.COMPLETED
    if not rows and (not has_row or completed or (view is not None and view.persisted_seq > 0)):
        decided = "" if view is None else f", {_last_seq(view)} decisions"
        return _audit(
            incident_id,
            len(rows),
            Verdict.VANISHED,
            f"Temporal knows the incident (workflow {execution.workflow_id}, {status.name}"
            f"{decided}); the database holds none of its rows",
        )
    if before.failure is not None:
        return _audit(incident_id, len(rows), Verdict.UNANCHORED, before.failure)
    if view is None:
        return _audit(
            incident_id,
            len(rows),
            Verdict.UNANCHORED,
            f"the workflow is {status.name}: it gives no decisions to compare with",
        )
    after = view
    if not completed:
        again = await _anchor(client, incident_id)
        if again.view is None:
            return _audit(
                incident_id, len(rows), Verdict.UNANCHORED, "the workflow stopped answering"
            )
        after = again.view
    try:
        broken = compare_with_workflow(incident_id, rows, view, after, completed)
    except CannotCompare as exc:
        return _audit(incident_id, len(rows), Verdict.UNANCHORED, str(exc))
    if broken is not None:
        return _audit(incident_id, len(rows), Verdict.BROKEN, broken=broken, anchored=True)
    cancelled_by = None
    if after.outcome is Outcome.CANCELLED:
        run_id = next(
            (r.run_id for r in rows if r.kind == DecisionKind.CANCELLED), execution.run_id
        )
        request = await temporal.cancel_request(client, execution.workflow_id, run_id)
        cancelled_by = request.identity if request is not None else "an unknown identity"
    return _audit(incident_id, len(rows), Verdict.INTACT, anchored=True, cancelled_by=cancelled_by)


async def _no_workflow(
    client: Client, incident_id: str, rows: Sequence[LedgerDecision], now: datetime
) -> LedgerAudit:
    closing = next((r for r in reversed(rows) if closes_incident(r.kind, r.payload)), None)
    if closing is not None:
        try:
            kept = await temporal.retention(client)
        except Exception:  # noqa: BLE001 (a namespace Temporal will not describe: no retention known)
            kept = None
        if kept is not None and closing.occurred_at + kept < now:
            return _audit(
                incident_id,
                len(rows),
                Verdict.BEYOND_RETENTION,
                f"closed {closing.occurred_at.date().isoformat()}, longer ago than the "
                f"namespace keeps histories ({kept.days} days): nothing left to compare with",
            )
    return _audit(
        incident_id,
        len(rows),
        Verdict.UNANCHORED,
        f"no workflow {workflow_id_for(incident_id)} answers in Temporal",
    )


async def _terminated(
    client: Client, incident_id: str, rows: Sequence[LedgerDecision], execution: temporal.Execution
) -> LedgerAudit:
    try:
        by = await temporal.termination(client, execution.workflow_id, execution.run_id)
    except Exception:  # noqa: BLE001 (who did it is a detail: the verdict stands without it)
        by = None
    who = f" by {by.identity}" if by is not None and by.identity else ""
    why = f" ({by.reason})" if by is not None and by.reason else ""
    outcome = next((r.kind for r in rows if r.kind in OUTCOME_VALUES), None)
    after = f"after its outcome ({outcome})" if outcome else "with no outcome in the ledger"
    return _audit(
        incident_id, len(rows), Verdict.TERMINATED, f"terminated in Temporal{who}{why}, {after}"
    )


async def audited_ledger(
    sessions: async_sessionmaker[AsyncSession],
    incident: Incident,
    client: Client | None = None,
    *,
    now: datetime | None = None,
) -> tuple[LedgerAudit, list[LedgerDecision]]:
    """The verdict on an incident's ledger, with the rows it was given on: the one audit every
    view that shows a verdict calls (the API's ledger and verify, the board, the CLI)."""
    return await _audited(sessions, incident.id, incident, client, now)


async def _audited(
    sessions: async_sessionmaker[AsyncSession],
    incident_id: str,
    incident: Incident | None,
    client: Client | None,
    now: datetime | None,
) -> tuple[LedgerAudit, list[LedgerDecision]]:
    # A running incident keeps writing while it is audited: Temporal is asked before the rows
    # are read (what it knows to be persisted is then already in them) and again after.
    # Without the incident's row there is nothing to compare: what Temporal knows is the finding.
    has_row = incident is not None
    before = None if client is None else await _anchor(client, incident_id, with_view=has_row)
    async with sessions() as session:
        rows = await IncidentRepository(session).ledger(incident_id)
        stored = await texts_for(session, (row.payload for row in rows))
    if incident is not None:
        broken = check_rows(incident, rows)
    else:  # the foreign key keeps rows from outliving their incident; checked all the same
        broken = verify_chain(workflow_id_for(incident_id), rows)
    broken = broken or check_texts(rows, stored)
    if broken is not None:
        return _audit(incident_id, len(rows), Verdict.BROKEN, broken=broken), rows
    if client is None or before is None:
        return _audit(incident_id, len(rows), Verdict.UNCHECKED), rows
    now = now or datetime.now(UTC)
    audit = await _against_temporal(client, incident_id, has_row, rows, before, now)
    return audit, rows


async def audit_incident(
    sessions: async_sessionmaker[AsyncSession],
    incident: Incident,
    client: Client | None = None,
    *,
    now: datetime | None = None,
) -> LedgerAudit:
    return (await audited_ledger(sessions, incident, client, now=now))[0]


async def audit_incident_id(
    sessions: async_sessionmaker[AsyncSession],
    incident_id: str,
    client: Client | None = None,
    *,
    now: datetime | None = None,
) -> LedgerAudit | None:
    """The verdict on one incident the database may no longer hold (vanished, if Temporal knows
    it); None when neither knows it."""
    incident = await find_incident(sessions, incident_id)
    audit, rows = await _audited(sessions, incident_id, incident, client, now)
    if incident is None and not rows and audit.verdict in (Verdict.UNCHECKED, Verdict.UNANCHORED):
        return None
    return audit


async def find_incident(
    sessions: async_sessionmaker[AsyncSession], incident_id: str
) -> Incident | None:
    async with sessions() as session:
        return await IncidentRepository(session).get(incident_id)


async def audit_all(
    sessions: async_sessionmaker[AsyncSession],
    client: Client | None = None,
    *,
    now: datetime | None = None,
) -> list[LedgerAudit]:
    """Every incident the database holds and, with a client, every one Temporal's visibility
    lists: an incident whose rows were all deleted is named (vanished), not skipped."""
    async with sessions() as session:
        incidents = await IncidentRepository(session).every_incident()
    audits = [await audit_incident(sessions, incident, client, now=now) for incident in incidents]
    if client is not None:
        known = {incident.id for incident in incidents}
        for incident_id in sorted(await temporal.incident_ids(client) - known):
            audit = await audit_incident_id(sessions, incident_id, client, now=now)
            if audit is not None:
                audits.append(audit)
    return audits
