"""What the situation board shows: open incidents from the read side, with the live state of
each (awaiting whom, quorum, the next deadline's name) asked of its workflow when it answers fast.

A workflow that does not answer within ``LIVE_TIMEOUT`` (no worker, Temporal down) still gets its
row, from the read side alone, marked stale: the board must keep showing the wall even then.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus

from api.context import ApiContext
from db.chain import verify_chain
from db.models import Incident, LedgerDecision
from workflows.clock import format_offset
from workflows.incident import IncidentWorkflow
from workflows.messages import DeadlineStatus, IncidentView

LIVE_TIMEOUT = timedelta(seconds=2)
LIVE_CONCURRENCY = 10
MAX_ROWS = 200


@dataclass(frozen=True)
class Countdown:
    """A moment the page counts down to; the browser does the counting."""

    label: str
    due_at: datetime


@dataclass
class BoardRow:
    incident_id: str
    workflow_id: str
    kind: str
    sector: str
    reported_by: str
    summary: str
    exercise: bool
    phase: str
    escalation_level: int
    t0: datetime
    window: Countdown
    next_deadline: Countdown | None
    ui_url: str
    timeline_url: str
    live: bool = False
    awaiting: str | None = None
    authority: str | None = None
    committed: int | None = None
    quorum_needed: int | None = None
    missing_assets: tuple[str, ...] = ()
    quorum_holds: bool = False


@dataclass
class Board:
    exercise: bool
    as_of: datetime
    rows: list[BoardRow] = field(default_factory=list)

    @property
    def stale(self) -> int:
        return sum(1 for row in self.rows if not row.live)


def ui_url(context: ApiContext, workflow_id: str) -> str:
    settings = context.settings
    return (
        f"{settings.ui_base_url}/namespaces/{quote(settings.temporal_namespace, safe='')}"
        f"/workflows/{quote(workflow_id, safe='')}"
    )


def _row(context: ApiContext, incident: Incident) -> BoardRow:
    return BoardRow(
        incident_id=incident.id,
        workflow_id=incident.workflow_id,
        kind=incident.kind,
        sector=incident.sector,
        reported_by=incident.reported_by,
        summary=incident.summary,
        exercise=incident.exercise,
        phase=incident.phase,
        escalation_level=incident.escalation_level,
        t0=incident.observed_at,
        window=Countdown("Activation window closes (T0+72h)", incident.window_closes_at),
        next_deadline=Countdown("Next deadline", incident.next_deadline_at)
        if incident.next_deadline_at
        else None,
        ui_url=ui_url(context, incident.workflow_id),
        timeline_url=f"/board/incidents/{incident.id}",
    )


def _apply_live(row: BoardRow, view: IncidentView) -> None:
    row.live = True
    row.phase = str(view.phase)
    row.escalation_level = view.escalation_level
    row.awaiting = str(view.awaiting)
    row.authority = view.escalation_authority
    row.window = Countdown(
        f"Activation window closes ({format_offset(view.deadlines[-1].due_hours) if view.deadlines else 'T0+72h'})",
        view.window_closes_at,
    )
    nxt = view.next_deadline
    row.next_deadline = (
        Countdown(f"{nxt.title} ({format_offset(nxt.due_hours)})", nxt.due_at) if nxt else None
    )
    quorum = view.quorum
    row.committed = len(quorum.committed)
    row.quorum_needed = quorum.min_committed
    row.missing_assets = quorum.missing_assets
    row.quorum_holds = quorum.holds


async def live_view(context: ApiContext, workflow_id: str) -> IncidentView | None:
    """The workflow's own view when it answers quickly; None otherwise."""
    handle = context.client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id)
    try:
        return await asyncio.wait_for(
            handle.query(IncidentWorkflow.state, rpc_timeout=LIVE_TIMEOUT),
            LIVE_TIMEOUT.total_seconds() + 0.5,
        )
    except Exception:  # noqa: BLE001 (any failure: show the read side instead)
        return None


async def open_board(context: ApiContext, *, exercise: bool) -> Board:
    async with context.sessions() as session:
        incidents = list(
            await session.scalars(
                select(Incident)
                .where(Incident.exercise.is_(exercise), Incident.outcome.is_(None))
                .order_by(Incident.escalation_level.desc(), Incident.window_closes_at, Incident.id)
                .limit(MAX_ROWS)
            )
        )
    rows = [_row(context, incident) for incident in incidents]
    limit = asyncio.Semaphore(LIVE_CONCURRENCY)

    async def refresh(row: BoardRow) -> None:
        async with limit:
            view = await live_view(context, row.workflow_id)
        if view is not None and view.outcome is None:
            _apply_live(row, view)

    await asyncio.gather(*(refresh(row) for row in rows))
    return Board(exercise=exercise, as_of=await context.clock(), rows=rows)


@dataclass
class TimelinePage:
    incident: Incident
    view: IncidentView | None
    running: bool
    ledger: list[LedgerDecision]
    chain_intact: bool
    chain_problem: str | None
    ui_url: str
    as_of: datetime

    @property
    def pending(self) -> list[Countdown]:
        if self.view is None:
            return []
        return [
            Countdown(f"{d.title} ({format_offset(d.due_hours)})", d.due_at)
            for d in self.view.deadlines
            if d.status is DeadlineStatus.PENDING
        ]


async def timeline_page(context: ApiContext, incident_id: str) -> TimelinePage | None:
    async with context.sessions() as session:
        incident = await session.get(Incident, incident_id)
        if incident is None:
            return None
        ledger = list(
            await session.scalars(
                select(LedgerDecision)
                .where(LedgerDecision.incident_id == incident_id)
                .order_by(LedgerDecision.seq)
            )
        )
    view = await live_view(context, incident.workflow_id)
    running = view is not None and view.outcome is None
    if view is None:
        # A completed workflow answers with its result without a worker; a quick look only.
        handle = context.client.get_workflow_handle_for(IncidentWorkflow.run, incident.workflow_id)
        try:
            description = await handle.describe(rpc_timeout=LIVE_TIMEOUT)
            if description.status is WorkflowExecutionStatus.COMPLETED:
                view = await handle.result(rpc_timeout=LIVE_TIMEOUT)
        except Exception:  # noqa: BLE001
            view = None
    broken = verify_chain(incident.workflow_id, ledger) if ledger else None
    return TimelinePage(
        incident=incident,
        view=view,
        running=running,
        ledger=ledger,
        chain_intact=broken is None,
        chain_problem=None if broken is None else f"seq {broken.seq}: {broken.problem}",
        ui_url=ui_url(context, incident.workflow_id),
        as_of=await context.clock(),
    )
