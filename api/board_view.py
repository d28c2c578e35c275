"""What the situation board shows: open incidents from the read side, with the live state of
each (awaiting whom, quorum, the next deadline's name) asked of its workflow when it answers fast.

A workflow that does not answer within ``LIVE_TIMEOUT`` (no worker, Temporal down) still gets its
row, from the read side alone, marked stale: the board must keep showing the wall even then. And
the whole page asks Temporal for no longer than ``BOARD_BUDGET``: with Temporal down, two hundred
rows would otherwise wait their timeouts in turn, and the wall would show nothing for minutes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from api.context import ApiContext
from api.related import related_of
from api.schemas.incidents import RelatedIncidents
from db.audit import LedgerAudit, audited_ledger
from db.deliveries import incident_deliveries
from db.models import Delivery, Incident, LedgerDecision, Report
from db.reports import reports_of
from db.repository import IncidentRepository, snapshot_of
from foundation.ids import is_exercise_id, workflow_id_for
from workflows.decisions import DecisionKind
from workflows.lookup import look_up
from workflows.messages import (
    DeadlineStatus,
    IncidentView,
    ScheduleEntry,
    ScheduleKind,
    next_after,
)

LIVE_TIMEOUT = timedelta(seconds=2)
BOARD_BUDGET = timedelta(seconds=3)
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
    ledger_problem: str | None = None  # LEDGER BLOCKED: why the database refuses its writes
    awaiting_ack: tuple[int, ...] = ()  # levels whose escalation notice nobody acknowledged
    undelivered: int = 0  # recipients the incident's notices could not reach


@dataclass
class Board:
    exercise: bool
    as_of: datetime
    rows: list[BoardRow] = field(default_factory=list)

    # Temporal did not answer for every row within the board's budget.
    temporal_late: bool = False
    # Audiences nobody would hear: never a silent drop.
    unconfigured: list[str] = field(default_factory=list)

    @property
    def stale(self) -> int:
        return sum(1 for row in self.rows if not row.live)


def ui_url(context: ApiContext, workflow_id: str) -> str:
    settings = context.settings
    return (
        f"{settings.ui_base_url}/namespaces/{quote(settings.temporal_namespace, safe='')}"
        f"/workflows/{quote(workflow_id, safe='')}"
    )


def _window(schedule: tuple[ScheduleEntry, ...], closes_at: datetime) -> Countdown:
    entry = next((e for e in schedule if e.kind is ScheduleKind.WINDOW), None)
    return Countdown(entry.title if entry else "Response window closes", closes_at)


def _next(schedule: tuple[ScheduleEntry, ...], now: datetime) -> Countdown | None:
    upcoming = next_after(schedule, now)
    return None if upcoming is None else Countdown(upcoming.title, upcoming.due_at)


def _row(context: ApiContext, incident: Incident, now: datetime) -> BoardRow:
    snapshot = snapshot_of(incident)
    workflow_id = workflow_id_for(incident.id)
    return BoardRow(
        incident_id=incident.id,
        workflow_id=workflow_id,
        kind=snapshot.kind,
        sector=", ".join(snapshot.sectors or (snapshot.sector,)),
        reported_by=snapshot.reported_by,
        summary=snapshot.summary,
        exercise=is_exercise_id(incident.id),
        phase=str(snapshot.phase),
        escalation_level=snapshot.escalation_level,
        t0=snapshot.t0,
        window=_window(snapshot.schedule, snapshot.window_closes_at),
        next_deadline=_next(snapshot.schedule, now),
        ui_url=ui_url(context, workflow_id),
        timeline_url=f"/board/incidents/{incident.id}",
    )


def _apply_live(row: BoardRow, view: IncidentView, now: datetime) -> None:
    row.live = True
    row.phase = str(view.phase)
    row.escalation_level = view.escalation_level
    row.awaiting = str(view.awaiting)
    row.authority = view.escalation_authority
    row.window = _window(view.schedule, view.window_closes_at)
    row.next_deadline = _next(view.schedule, now)
    row.ledger_problem = view.ledger_problem
    row.awaiting_ack = tuple(a.level for a in view.awaiting_ack)
    row.undelivered = view.undelivered
    quorum = view.quorum
    if quorum.applies:  # a kind without allied consultation has no quorum to show
        row.committed = len(quorum.committed)
        row.quorum_needed = quorum.min_committed
        row.missing_assets = quorum.missing_assets
        row.quorum_holds = quorum.holds


async def live_view(
    context: ApiContext, incident_id: str, budget: timedelta = BOARD_BUDGET
) -> tuple[IncidentView, bool] | None:
    """The workflow's own view and whether it still runs, when it answers quickly; else None."""
    try:
        found = await asyncio.wait_for(
            look_up(context.client, incident_id, rpc_timeout=min(LIVE_TIMEOUT, budget)),
            budget.total_seconds(),
        )
    except Exception:  # noqa: BLE001 (any failure: show the read side instead)
        return None
    if found is None or found.view is None:
        return None
    return found.view, found.running


async def open_board(context: ApiContext, *, exercise: bool) -> Board:
    async with context.sessions() as session:
        incidents = await IncidentRepository(session).open_incidents(
            exercise=exercise, limit=MAX_ROWS
        )
    now = await context.clock()
    rows = [_row(context, incident, now) for incident in incidents]
    limit = asyncio.Semaphore(LIVE_CONCURRENCY)

    async def refresh(row: BoardRow) -> None:
        async with limit:
            live = await live_view(context, row.incident_id)
        if live is not None and live[1]:
            _apply_live(row, live[0], now)

    tasks = [asyncio.ensure_future(refresh(row)) for row in rows]
    late = False
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=BOARD_BUDGET.total_seconds())
        for task in pending:  # their rows keep the read side's values
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        late = bool(pending)
    return Board(
        exercise=exercise,
        as_of=now,
        rows=rows,
        temporal_late=late,
        unconfigured=[] if exercise else context.unconfigured_audiences(),
    )


@dataclass
class TimelinePage:
    incident: Incident
    view: IncidentView | None
    running: bool
    ledger: list[LedgerDecision]
    audit: LedgerAudit
    ui_url: str
    as_of: datetime
    deliveries: list[Delivery] = field(default_factory=list)
    related: RelatedIncidents | None = None
    reports: list[Report] = field(default_factory=list)

    @property
    def journal(self) -> list[LedgerDecision]:
        """The cell's notes and handovers, in the order written."""
        return [row for row in self.ledger if row.kind == DecisionKind.NOTE]

    @property
    def undelivered(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.status == "undelivered"]

    @property
    def exercise(self) -> bool:
        return is_exercise_id(self.incident.id)

    @property
    def window(self) -> Countdown:
        schedule = self.view.schedule if self.view else snapshot_of(self.incident).schedule
        return _window(schedule, self.incident.window_closes_at)

    @property
    def pending(self) -> list[Countdown]:
        if self.view is None:
            return []
        return [
            Countdown(d.title, d.due_at)
            for d in self.view.deadlines
            if d.status is DeadlineStatus.PENDING
        ]


async def timeline_page(context: ApiContext, incident_id: str) -> TimelinePage | None:
    async with context.sessions() as session:
        incident = await IncidentRepository(session).get(incident_id)
    if incident is None:
        return None
    live = await live_view(context, incident_id)
    # A workflow that did not answer now will not answer the audit either: audit the read side
    # alone (not checked against the workflow) rather than wait on Temporal again.
    client = None if live is None else context.client
    audit, ledger = await audited_ledger(context.sessions, incident, client)
    async with context.sessions() as session:
        deliveries = await incident_deliveries(session, incident.id)
        reports = await reports_of(session, incident.id)
    related = await related_of(context, incident)
    workflow_id = workflow_id_for(incident.id)
    return TimelinePage(
        incident=incident,
        view=None if live is None else live[0],
        running=live is not None and live[1],
        ledger=ledger,
        audit=audit,
        ui_url=ui_url(context, workflow_id),
        as_of=await context.clock(),
        deliveries=deliveries,
        related=related,
        reports=reports,
    )
