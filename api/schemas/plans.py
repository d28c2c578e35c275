"""Plans (read only) and the dry-run timeline of a hypothetical violation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class KindOut(BaseModel):
    kind: str
    title: str
    when_unverified: str
    consultation: bool
    military_response: bool
    diplomatic_steps: list[str]


class PlanSummary(BaseModel):
    id: str
    title: str
    version: int
    activation_window_hours: float
    kinds: list[KindOut]
    parties: list[str]
    assets: list[str]
    min_committed: int
    required_assets: list[str]
    steps: dict[str, str]
    escalation_levels: dict[str, str]


class PlanList(BaseModel):
    plans: list[PlanSummary]


class TimelineItem(BaseModel):
    at: datetime
    t_plus_hours: float
    label: str = Field(description="e.g. T0+24h")
    event: str = Field(description="deadline | escalation | window")
    name: str
    title: str
    applies_to: list[str] = Field(description="The kinds this item applies to")


class PlanTimeline(BaseModel):
    plan_id: str
    plan_version: int
    observed_at: datetime
    kind: str | None
    items: list[TimelineItem]
