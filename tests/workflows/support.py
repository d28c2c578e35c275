"""Driving one incident on the time-skipping server, and reading its ledger back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from db.chain import verify_chain
from db.models import LedgerDecision
from db.repository import IncidentRepository
from plans.loader import get_plan
from plans.model import Plan
from workflows.incident import IncidentWorkflow
from workflows.limits import RunLimits
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    DecisionReceipt,
    Evidence,
    EvidenceInput,
    IncidentView,
    Phase,
    ViolationReport,
)
from workflows.starting import build_input, start_incident
from workflows.updating import execute_update

REPORTER = "ua-general-staff"


@dataclass
class Drill:
    """One incident on the time-skipping clock; ``at(hours)`` moves to T0 + hours."""

    env: WorkflowEnvironment
    handle: WorkflowHandle[IncidentWorkflow, IncidentView]
    t0: datetime

    async def at(self, hours: float) -> None:
        # A second past the mark: the time-skipping server rejects a workflow task that accepts an
        # update in the very instant a timer fires, and the marks here are often deadlines.
        target = self.t0 + timedelta(hours=hours, seconds=1)
        now = await self.env.get_current_time()
        if target > now:
            await self.env.sleep(target - now)

    async def evidence(self, source: str, summary: str = "seen") -> DecisionReceipt:
        return await execute_update(
            self.handle,
            IncidentWorkflow.submit_evidence,
            EvidenceInput(source=source, summary=summary, actor=source),
        )

    async def commit(self, party: str, *assets: str) -> DecisionReceipt:
        return await execute_update(
            self.handle,
            IncidentWorkflow.submit_commitment,
            CommitmentInput(
                party=party, answer=Answer.COMMIT, assets=assets, actor=f"ally:{party}"
            ),
        )

    async def decline(self, party: str) -> DecisionReceipt:
        return await execute_update(
            self.handle,
            IncidentWorkflow.submit_commitment,
            CommitmentInput(party=party, answer=Answer.DECLINE, actor=f"ally:{party}"),
        )

    async def decide(
        self, action: Action, rationale: str = "as the plan requires", **kw: str
    ) -> DecisionReceipt:
        return await execute_update(
            self.handle,
            IncidentWorkflow.submit_decision,
            DecisionInput(action=action, actor="duty-officer", rationale=rationale, **kw),
        )

    async def view(self) -> IncidentView:
        return await self.handle.query(IncidentWorkflow.state)

    async def result(self) -> IncidentView:
        """The incident's last view. An activated response stays open (phase active) until an
        operator terminates it or the plan's limit: the drill terminates it, as the cell would
        once its forces stand down, so a test of the plan's steps ends where they end."""
        view = await self.view()
        if view.phase is Phase.ACTIVE:
            await self.decide(Action.TERMINATE, "the drill ends")
        return await self.handle.result()


async def start_drill(
    env: WorkflowEnvironment,
    task_queue: str,
    kind: str,
    *,
    observed_hours_before_report: float = 0,
    evidence: tuple[Evidence, ...] = (),
    plan: Plan | None = None,
    limits: RunLimits | None = None,
) -> Drill:
    now = await env.get_current_time()
    t0 = now - timedelta(hours=observed_hours_before_report)
    report = ViolationReport(
        report_id=f"report-{uuid.uuid4().hex}",
        kind=kind,
        sector="zaporizhzhia",
        reported_by=REPORTER,
        summary="armoured columns crossing the contact line",
        observed_at=t0,
        reported_at=now,
        evidence=evidence,
    )
    incident = build_input(report, plan or get_plan())
    if limits is not None:
        incident = replace(incident, limits=limits)
    handle = await start_incident(env.client, incident, task_queue, now=now)
    return Drill(env=env, handle=handle, t0=t0)


# What the incident told people: between and after the plan's decisions, at times of their own.
NOTICE_KINDS = frozenset({"notified", "delivery_failed", "acknowledged"})


def _decisions(source: IncidentView | Sequence[Any]) -> Sequence[Any]:
    return source.timeline if isinstance(source, IncidentView) else source


def kinds(source: IncidentView | Sequence[Any], *, notices: bool = False) -> list[str]:
    """The kinds of a view's recent timeline or of ledger rows: the plan's decisions, and the
    notices' results too with ``notices=True``."""
    return [d.kind for d in _decisions(source) if notices or d.kind not in NOTICE_KINDS]


def hours_of(source: IncidentView | Sequence[Any], kind: str) -> list[float]:
    return [round(d.t_plus_hours, 2) for d in _decisions(source) if d.kind == kind]


def plan_decisions(rows: Sequence[Any]) -> list[Any]:
    return [r for r in rows if r.kind not in NOTICE_KINDS]


async def ledger_rows(
    sessions: async_sessionmaker[AsyncSession], incident_id: str
) -> list[LedgerDecision]:
    async with sessions() as session:
        return await IncidentRepository(session).ledger(incident_id)


async def assert_ledger_matches(
    sessions: async_sessionmaker[AsyncSession], view: IncidentView
) -> list[LedgerDecision]:
    """The ledger holds every decision exactly once, in order, chained, and ends with the
    workflow's own latest decisions (the view holds the most recent of them)."""
    rows = await ledger_rows(sessions, view.incident_id)
    assert [r.seq for r in rows] == list(range(1, view.decisions_total + 1))
    tail = rows[len(rows) - len(view.timeline) :]
    assert [(r.seq, r.kind, r.actor) for r in tail] == [
        (d.seq, d.kind, d.actor) for d in view.timeline
    ]
    assert [r.occurred_at for r in tail] == [d.at for d in view.timeline]
    assert verify_chain(rows[0].workflow_id, rows) is None
    return rows
