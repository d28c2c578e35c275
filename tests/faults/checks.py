"""What every fault test verifies once its incidents have ended, incident by incident:

- the outcome is the one the same inputs give without the fault (the pure plan logic);
- every input sent through the API is in the ledger exactly once;
- the ledger equals the workflow's timeline, seq 1..n without gap, and its chain verifies
  (in the database, against the workflow, and through ``GET /ledger/verify``);
- every diplomatic step has one outbox row and reached the receiver, processed once;
- no workflow task failed in any history.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowExecutionStatus

from db.audit import audit_incident, find_incident
from db.chain import verify_chain
from db.models import LedgerDecision, Notification
from tests.faults.crew import IncidentRun
from tests.faults.receiver import WebhookReceiver
from tests.faults.scripts import OPERATOR, REPORTER
from workflows.incident import IncidentWorkflow
from workflows.messages import IncidentView

BENIGN_TASK_FAILURES = {
    "WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND",
    "WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE",
}

HUMAN_KINDS = ("commitment", "authorize", "stand_down", "confirm", "reclassify", "terminate")


@dataclass
class FaultResult:
    """One row of the reliability table (docs/reliability.md)."""

    fault: str
    incidents: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    outcomes_as_expected: int = 0
    decisions: int = 0
    inputs_sent: int = 0
    inputs_recorded_once: int = 0
    ledger_rows: int = 0
    chains_verified: int = 0
    steps_dispatched: int = 0
    outbox_rows: int = 0
    receiver_processed: int = 0
    receiver_raw_duplicates: int = 0
    delivered_not_in_ledger: int = 0
    workflow_tasks_failed: int = 0
    workflow_tasks_turned_down: int = 0
    workflow_tasks_timed_out: int = 0
    activity_attempts_failed: int = 0
    client_requests: int = 0
    client_retries: int = 0
    client_retry_reasons: dict[str, int] = field(default_factory=dict)
    fault_events: list[str] = field(default_factory=list)
    log_bytes_scanned: int = 0  # process logs searched for secrets
    seconds: float = 0.0
    time_scale: float = 0.0
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def wait_for_all(
    client: Client, runs: list[IncidentRun], timeout: float
) -> dict[str, IncidentView]:
    """Every incident's final view; fails naming those still open at the deadline."""
    deadline = time.monotonic() + timeout
    views: dict[str, IncidentView] = {}
    while True:
        for run in runs:
            if run.workflow_id in views:
                continue
            handle = client.get_workflow_handle_for(IncidentWorkflow.run, run.workflow_id)
            try:
                status = (await handle.describe()).status
                if status is WorkflowExecutionStatus.COMPLETED:
                    views[run.workflow_id] = await handle.result()
                elif status is not WorkflowExecutionStatus.RUNNING:
                    raise AssertionError(f"{run.workflow_id} ended {status.name}, not COMPLETED")
            except AssertionError:
                raise
            except Exception:  # noqa: BLE001, S110 (the server may still be coming back)
                pass
        if len(views) == len(runs):
            return views
        if time.monotonic() > deadline:
            missing = [r.workflow_id for r in runs if r.workflow_id not in views]
            raise AssertionError(
                f"{len(missing)} incident(s) still open after {timeout:.0f} s: {missing}"
            )
        await asyncio.sleep(0.5)


def human_markers(rows: Sequence[Any], reported: set[str]) -> Counter[tuple[str, str, str]]:
    """The inputs sent through the API after the report, as the ledger shows them."""
    markers: Counter[tuple[str, str, str]] = Counter()
    for d in rows:
        if (
            d.kind == "evidence_accepted"
            and d.actor == REPORTER
            and d.payload["source"] not in reported
        ):
            markers[(d.kind, d.actor, d.payload["source"])] += 1
        elif d.kind == "commitment":
            markers[(d.kind, d.actor, d.payload["party"])] += 1
        elif d.kind in HUMAN_KINDS and d.actor == OPERATOR:
            markers[(d.kind, d.actor, "")] += 1
    return markers


async def verify_incidents(
    result: FaultResult,
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    runs: list[IncidentRun],
    views: dict[str, IncidentView],
    receiver: WebhookReceiver,
    api_url: str,
    observer_secret: str,
) -> None:
    problems = result.problems
    result.incidents = len(runs)
    outcomes: Counter[str] = Counter()
    async with httpx.AsyncClient(
        timeout=30, headers={"Authorization": f"Bearer {observer_secret}"}
    ) as http:
        for run in runs:
            view = views[run.workflow_id]
            name = f"{run.incident_id} ({run.script.name})"
            outcomes[str(view.outcome)] += 1
            result.decisions += view.decisions_total
            if str(view.outcome) == run.script.expected_outcome:
                result.outcomes_as_expected += 1
            else:
                problems.append(
                    f"{name}: outcome {view.outcome}, expected {run.script.expected_outcome}"
                )

            async with sessions() as session:
                rows = list(await session.scalars(
                    select(LedgerDecision).where(LedgerDecision.incident_id == run.incident_id).order_by(LedgerDecision.seq)
                ))  # fmt: skip
                outbox = list(
                    await session.scalars(
                        select(Notification).where(Notification.incident_id == run.incident_id)
                    )
                )

            # Every input sent is in the ledger once: no loss, no double from a retry.
            result.inputs_sent += len(run.script.inputs)
            markers = human_markers(rows, {e["source"] for e in run.script.report["evidence"]})
            if markers == run.script.expected_inputs:
                result.inputs_recorded_once += len(run.script.inputs)
            else:
                problems.append(
                    f"{name}: inputs recorded {dict(markers)}, sent {dict(run.script.expected_inputs)}"
                )
            refused = [
                (s.input.path, s.status, s.answer.get("message"))
                for s in run.sent
                if s.status >= 400 and s.attempts == 1
            ]
            if refused:
                problems.append(f"{name}: inputs refused at the first attempt: {refused}")

            # The ledger holds every decision the workflow took, in order, each once, chained,
            # and ends with the latest ones the workflow still holds.
            result.ledger_rows += len(rows)
            ledger = [(r.seq, r.kind, r.actor, r.occurred_at) for r in rows]
            timeline = [(d.seq, d.kind, d.actor, d.at) for d in view.timeline]
            if (
                len(rows) != view.decisions_total
                or ledger[len(ledger) - len(timeline) :] != timeline
            ):
                problems.append(
                    f"{name}: ledger {[r[:2] for r in ledger]} != timeline {[t[:2] for t in timeline]}"
                    f" ({view.decisions_total} decisions)"
                )
            if [r.seq for r in rows] != list(range(1, len(rows) + 1)):
                problems.append(f"{name}: ledger seqs {[r.seq for r in rows]} are not 1..n")
            incident = await find_incident(sessions, run.incident_id)
            audit = None if incident is None else await audit_incident(sessions, incident, client)
            answer = (
                await http.get(f"{api_url}/v1/incidents/{run.incident_id}/ledger/verify")
            ).json()
            if (
                verify_chain(run.workflow_id, rows) is None
                and audit is not None and audit.intact and audit.checked_against_workflow
                and answer.get("intact") is True and answer.get("checked_against_workflow") is True
            ):  # fmt: skip
                result.chains_verified += 1
            else:
                problems.append(f"{name}: chain not verified: audit {audit}, API {answer}")

            # Each diplomatic step: one outbox row, delivered, processed once by the receiver.
            result.steps_dispatched += len(view.dispatched)
            result.outbox_rows += len(outbox)
            keys = [n.idempotency_key for n in outbox]
            delivered = {n.step for n in outbox if n.status == "delivered"}
            if len(keys) != len(set(keys)) or not set(view.dispatched) <= delivered:
                problems.append(
                    f"{name}: outbox {[(n.step, n.status) for n in outbox]}, dispatched {view.dispatched}"
                )
            unrecorded = delivered - set(view.dispatched)
            if unrecorded:
                # Since the stand-down-finishes-sent-steps patch a stood-down workflow waits for
                # the steps it handed to the sink: whatever went out is in the ledger.
                result.delivered_not_in_ledger += len(unrecorded)
                problems.append(
                    f"{name}: steps {sorted(unrecorded)} delivered but not in the ledger"
                )
            unseen = [k for k in keys if k not in receiver.processed]
            if unseen:
                problems.append(f"{name}: steps never reached the receiver: {unseen}")

            # No workflow task failed (a failed task would be a stuck or crashing workflow).
            history = await client.get_workflow_handle(run.workflow_id).fetch_history()
            types = Counter(EventType.Name(e.event_type) for e in history.events)
            # A task the server turned down because an update arrived as the workflow tried to
            # complete (UNHANDLED_COMMAND), or whose sticky worker died, is Temporal doing its
            # job; any other failed task (an exception, nondeterminism) is a broken workflow.
            causes = Counter(
                WorkflowTaskFailedCause.Name(e.workflow_task_failed_event_attributes.cause)
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            )
            broken = {c: n for c, n in causes.items() if c not in BENIGN_TASK_FAILURES}
            result.workflow_tasks_failed += sum(broken.values())
            result.workflow_tasks_turned_down += sum(causes.values()) - sum(broken.values())
            result.workflow_tasks_timed_out += types["EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT"]
            if broken:
                problems.append(f"{name}: failed workflow task(s): {broken}")
            for event in history.events:
                if event.HasField("activity_task_started_event_attributes"):
                    result.activity_attempts_failed += (
                        event.activity_task_started_event_attributes.attempt - 1
                    )
    result.outcomes = dict(sorted(outcomes.items()))
    result.receiver_processed = len(receiver.processed)
    result.receiver_raw_duplicates = receiver.duplicates
    if receiver.bad_signatures:
        problems.append(
            f"the receiver saw {receiver.bad_signatures} deliveries with a bad signature"
        )
    if len(receiver.processed) != result.outbox_rows:
        problems.append(
            f"the receiver processed {len(receiver.processed)} steps; the outbox holds {result.outbox_rows}"
        )
