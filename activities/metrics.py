"""The engine's own Prometheus metrics, recorded where the facts are: the ledger activity sees
every decision exactly once (a retried batch writes, and counts, nothing)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Histogram

from workflows.decisions import DecisionKind
from workflows.messages import Decision

KINDS = frozenset(DecisionKind)

# Plan hours: the plan's own deadlines are the natural bucket edges.
ACTIVATION_BUCKETS = (6, 12, 24, 36, 48, 60, 66, 72)
LEDGER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

DECISIONS = Counter(
    "contingency_decisions",
    "Decisions written to the ledger, by kind",
    ["kind", "exercise"],
)
INCIDENTS_CLOSED = Counter(
    "contingency_incidents_closed",
    "Incidents that reached an outcome, by outcome",
    ["outcome", "exercise"],
)
ESCALATIONS = Counter(
    "contingency_escalations",
    "Escalations, by the level the plan rule escalated to",
    ["level", "exercise"],
)
TIME_TO_ACTIVATION = Histogram(
    "contingency_time_to_activation_hours",
    "Plan hours from T0 to activation of the military response",
    ["exercise"],
    buckets=ACTIVATION_BUCKETS,
)
LEDGER_WRITE = Histogram(
    "contingency_ledger_write_seconds",
    "Wall time of one ledger batch (one transaction), retries included as separate batches",
    buckets=LEDGER_BUCKETS,
)


def record_ledger_batch(exercise: bool, written: Sequence[Decision], seconds: float) -> None:
    """Count the decisions a ledger batch wrote (a retried batch writes none, so nothing is
    counted twice) and the batch's latency."""
    LEDGER_WRITE.observe(seconds)
    flag = "true" if exercise else "false"
    for decision in written:
        DECISIONS.labels(kind=decision.kind, exercise=flag).inc()
        kind = DecisionKind(decision.kind) if decision.kind in KINDS else None
        if kind is DecisionKind.ESCALATED:
            ESCALATIONS.labels(level=str(decision.payload.get("level", "")), exercise=flag).inc()
        elif kind is not None and kind.outcome is not None:
            INCIDENTS_CLOSED.labels(outcome=decision.kind, exercise=flag).inc()
            if kind is DecisionKind.ACTIVATED:
                TIME_TO_ACTIVATION.labels(exercise=flag).observe(decision.t_plus_hours)
