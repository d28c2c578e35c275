"""Typed models: incidents (the read side), decisions (the ledger), notifications (the steps'
outbox), deliveries (the notices' outbox), API tokens, stored texts and idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.base import Base, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(200), unique=True)
    workflow_id: Mapped[str] = mapped_column(String(120), unique=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    plan_id: Mapped[str] = mapped_column(String(64))
    plan_version: Mapped[int]
    kind: Mapped[str] = mapped_column(String(64), index=True)
    sector: Mapped[str] = mapped_column(String(120))
    reported_by: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(Text, default="")
    exercise: Mapped[bool] = mapped_column(default=False, index=True)
    observed_at: Mapped[datetime]  # T0
    reported_at: Mapped[datetime]
    window_closes_at: Mapped[datetime]
    phase: Mapped[str] = mapped_column(String(32), index=True)
    outcome: Mapped[str | None] = mapped_column(String(32), index=True)
    escalation_level: Mapped[int] = mapped_column(default=1)
    # What falls due next ([{name, title, due_at, due_hours, kind}], in order), as of the last
    # ledger batch: readers take the first entry still ahead (workflows.messages.next_after).
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    # Every sector the response covers, its first report's first (reports join a response).
    sectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    # An activated response under a plan with an after_activation section stays open (phase
    # active) until terminated: open means closed_at is null, whatever the outcome.
    activated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None] = mapped_column(index=True)
    termination_rationale: Mapped[str | None] = mapped_column(Text)
    # The incident this one was folded into (outcome ``merged``): the link both ledgers record
    # (merge here, absorbed there), kept on the row for the lists and the reports.
    merged_into: Mapped[str | None] = mapped_column(String(100), index=True)
    # Digest of the report as first received, so a retried report is recognised (same body)
    # or refused (a different body under the same report id).
    report_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    decisions: Mapped[list[LedgerDecision]] = relationship(
        back_populates="incident", order_by="LedgerDecision.seq", lazy="raise"
    )

    __table_args__ = (CheckConstraint("escalation_level >= 1", name="escalation_level_positive"),)


class Report(Base):
    """One violation report, exactly once: the report that opened its incident, or one that
    joined the response later. An incident has many reports; a report id belongs to one."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    report_id: Mapped[str] = mapped_column(String(200), unique=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="RESTRICT"), index=True
    )
    joined: Mapped[bool] = mapped_column(default=False)  # False: the report that opened it
    kind: Mapped[str] = mapped_column(String(64))
    sector: Mapped[str] = mapped_column(String(120))
    reported_by: Mapped[str] = mapped_column(String(120))
    summary: Mapped[str] = mapped_column(Text, default="")
    observed_at: Mapped[datetime]
    reported_at: Mapped[datetime]
    # Digest of the report as first received: a retry is recognised, another body refused.
    digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerDecision(Base):
    """One decision, automatic or human, exactly once: (incident_id, seq) is the idempotency key."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    rationale: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime]  # workflow time, not wall time
    t_plus_hours: Mapped[float]
    workflow_id: Mapped[str] = mapped_column(String(120))
    run_id: Mapped[str] = mapped_column(String(64))
    # Outside the hash: the wall-clock time of the attempt that wrote the row.
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The hash format (workflows.chain): rows written before the workflow sealed them are 1.
    chain_version: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    incident: Mapped[Incident] = relationship(back_populates="decisions", lazy="raise")

    __table_args__ = (
        UniqueConstraint("incident_id", "seq"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index("ix_decisions_kind_occurred_at", "kind", "occurred_at"),
    )


class PlanVersion(Base):
    """The digest of each plan version as first used: a plan file edited without a new version
    number is refused at intake instead of silently running new rules under the old number."""

    __tablename__ = "plan_versions"

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """The outbox: one row per step sent out, keyed so a retried send is recognised."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("incidents.id", ondelete="RESTRICT"), index=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    step: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
    )


class Delivery(Base):
    """The notices' outbox: one row per (notice, audience, channel), claimed before the message
    is sent, so a retried or repeated notice finds what an earlier attempt delivered.

    No foreign key to ``incidents``: a notice can go out at intake, before the ledger's first
    batch has written the incident's row, and a notice must never wait on the ledger.
    """

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # f"{notice_id}/{audience}/{sha256(channel URL as written)[:12]}": also the value of the
    # X-Contingency-Key header every message carries, on which receivers de-duplicate.
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True)
    incident_id: Mapped[str] = mapped_column(String(100), index=True)
    notice_id: Mapped[str] = mapped_column(String(200), index=True)
    notice_kind: Mapped[str] = mapped_column(String(32))
    audience: Mapped[str] = mapped_column(String(140))
    # Apprise's privacy form of the URL (never a secret), or "exercise".
    channel: Mapped[str] = mapped_column(Text)
    cleared: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(240))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'undelivered')", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
    )


class ApiToken(Base):
    """A bearer token of the HTTP API: only a digest of the secret is kept, never the secret."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # reporter | observer | operator | ally:<party>
    role: Mapped[str] = mapped_column(String(80))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the secret, so an operator can tell tokens apart in a listing.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class StoredText(Base):
    """Free text too long to travel in a workflow (an evidence summary, a rationale): the ledger
    row carries its first characters and its digest, sealed by the chain; this holds the whole.
    Content-addressed, so storing the same text twice is one row, and an edit is seen."""

    __tablename__ = "texts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    chars: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint("chars >= 0", name="chars_non_negative"),)


class IdempotentRequest(Base):
    """An ``Idempotency-Key`` as the API first saw it: bound to its caller and its body, and, once
    answered, to its receipt. Temporal de-duplicates an update id within one run only; a retry
    that reaches the next run (continue-as-new) is answered from here."""

    __tablename__ = "idempotent_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))  # evidence | commitment | decision
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("principal", "key"),)
