"""POST /v1/violations: a violation report in, the incident it opened out."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, Field

from api.schemas.common import (
    FreeText,
    IncidentId,
    PlanName,
    Reporter,
    ReportId,
    RequestModel,
    Sector,
    Source,
)
from plans.loader import DEFAULT_PLAN_ID


class EvidenceItem(RequestModel):
    source: Source = Field(
        description="Who provides the evidence (counts as one verification source)"
    )
    summary: FreeText = ""


class ViolationIn(RequestModel):
    report_id: ReportId = Field(
        description="The reporter's own id for this report: posting it again is safe (idempotent)"
    )
    kind: PlanName = Field(
        description="A kind of violation the plan knows, e.g. large_scale_offensive"
    )
    sector: Sector
    observed_at: AwareDatetime | None = Field(
        default=None,
        description="T0, when the violation was observed (with a time zone); now when absent",
    )
    reported_by: Reporter = Field(
        description="Who reports it (counts as the first verification source)"
    )
    summary: FreeText = ""
    evidence: list[EvidenceItem] = Field(default_factory=list, max_length=20)
    plan_id: PlanName = Field(default=DEFAULT_PLAN_ID, description="The plan to respond under")
    joins: IncidentId | None = Field(
        default=None,
        description="An open incident this report joins (another report of the same "
        "offensive): it adds its sector, reporter and evidence to that response",
    )

    def digest(self) -> str:
        """SHA-256 of the report as received, canonicalised, so a retry with the same content is
        recognised however its JSON was laid out."""
        data = self.model_dump(mode="json")
        if self.observed_at is not None:
            data["observed_at"] = self.observed_at.astimezone(UTC).isoformat()
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


class ViolationAccepted(BaseModel):
    incident_id: str
    workflow_id: str
    report_id: str
    plan_id: str
    kind: str
    observed_at: datetime = Field(description="T0: every deadline is measured from it")
    reported_at: datetime
    activation_deadline: datetime = Field(
        description="The end of the response window (absolute, UTC)"
    )
    window_closed: bool = Field(
        description="The response window had closed before the report arrived: the incident is "
        "closed at intake, every deadline missed, nothing dispatched"
    )
    outcome: str | None = Field(
        description="The outcome when the incident closed at intake; null while it is open"
    )
    created: bool = Field(description="False when this report was already received (a safe retry)")
    joined: bool = Field(
        default=False, description="The report joined an open response (the incident it names)"
    )
    sectors: list[str] = Field(default_factory=list, description="Every sector the response covers")
    links: dict[str, str]
