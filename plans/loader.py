"""Load and validate plan files into frozen :class:`plans.model.Plan` values."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from foundation.yamlfile import DocumentError, load
from plans.model import (
    AfterActivation,
    Communications,
    Condition,
    DiplomaticStep,
    EscalationLevel,
    EscalationRule,
    KindPolicy,
    Plan,
    Quorum,
    Reports,
    ReviewEscalation,
    WhenUnverified,
)

PLANS_DIR = Path(__file__).resolve().parent
DEFAULT_PLAN_ID = "allied-72h"

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
Hours = Annotated[float, Field(ge=0, le=24 * 30)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Verification(_Strict):
    due_hours: Hours
    min_sources: int = Field(ge=1, le=20)


class _Quorum(_Strict):
    min_committed: int = Field(ge=1)
    required_assets: list[Name] = []


class _Consultation(_Strict):
    due_hours: Hours
    parties: list[Name] = Field(min_length=1)
    assets: list[Name] = Field(min_length=1)
    quorum: _Quorum

    @field_validator("parties", "assets", mode="before")
    @classmethod
    def _names_are_strings(cls, value: object) -> object:
        # YAML 1.1 reads a bare `no` (Norway) as false; say so rather than fail obscurely.
        if isinstance(value, list):
            for item in value:
                if isinstance(item, bool):
                    raise ValueError(
                        f"{item!r} is not a name; quote it (YAML reads bare no/yes/on/off as booleans)"
                    )
        return value

    @model_validator(mode="after")
    def _quorum_fits(self) -> _Consultation:
        if len(set(self.parties)) != len(self.parties):
            raise ValueError("parties must be distinct")
        if self.quorum.min_committed > len(self.parties):
            raise ValueError(
                f"quorum.min_committed ({self.quorum.min_committed}) exceeds the number of parties"
            )
        unknown = set(self.quorum.required_assets) - set(self.assets)
        if unknown:
            raise ValueError(f"quorum.required_assets names unknown assets: {sorted(unknown)}")
        return self


class _Diplomacy(_Strict):
    due_hours: Hours
    steps: dict[Name, Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        min_length=1
    )


class _Authorization(_Strict):
    due_hours: Hours


class _Kind(_Strict):
    title: str = Field(min_length=1)
    when_unverified: WhenUnverified
    consultation: bool
    military_response: bool
    diplomatic_steps: list[Name] = []


class _Escalation(_Strict):
    at_hours: Hours
    unless: Condition
    level: int = Field(ge=1)
    reason: str = Field(min_length=1)
    kinds: list[Name] = []


class _Communications(_Strict):
    reminder_hours: list[Hours] = []
    escalation_repeat_minutes: float = Field(default=60.0, ge=1, le=24 * 60)
    delivery_attempts: int = Field(default=5, ge=1, le=100)

    @field_validator("reminder_hours")
    @classmethod
    def _distinct_and_ordered(cls, value: list[float]) -> list[float]:
        return sorted(set(value))


class _ReviewMissed(_Strict):
    missed: int = Field(default=1, ge=1, le=100)
    level: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=200)


class _OnWithdrawal(_Strict):
    level: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=200)


class _AfterActivation(_Strict):
    # The engine knows one phase after activation; the plan names it, so a reader sees it here.
    phase: Literal["active"] = "active"
    title: str = Field(default="Response active", min_length=1, max_length=200)
    review_every_hours: float = Field(gt=0, le=24 * 90)
    review_missed: list[_ReviewMissed] = Field(min_length=1)
    max_days: float = Field(gt=0, le=366)
    limit_reason: str = Field(
        default="The plan's limit after activation is reached; the response ends",
        min_length=1,
        max_length=200,
    )
    on_withdrawal: _OnWithdrawal

    @field_validator("review_missed")
    @classmethod
    def _distinct_counts(cls, value: list[_ReviewMissed]) -> list[_ReviewMissed]:
        counts = [r.missed for r in value]
        if len(set(counts)) != len(counts):
            raise ValueError("each review_missed entry needs its own `missed` count")
        return sorted(value, key=lambda r: r.missed)


class _Reports(_Strict):
    related_within_hours: Hours = Field(gt=0)
    confirm_observed_beyond_hours: Hours | None = Field(default=None, gt=0)


class PlanDocument(_Strict):
    id: Name
    title: str = Field(min_length=1)
    version: int = Field(ge=1)
    activation_window_hours: Hours
    escalation_levels: dict[int, str] = Field(min_length=1)
    verification: _Verification
    consultation: _Consultation
    diplomacy: _Diplomacy
    authorization: _Authorization
    kinds: dict[Name, _Kind] = Field(min_length=1)
    escalations: list[_Escalation] = []
    communications: _Communications = _Communications()
    after_activation: _AfterActivation | None = None
    reports: _Reports | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PlanDocument:
        window = self.activation_window_hours
        for name, due in (
            ("verification.due_hours", self.verification.due_hours),
            ("consultation.due_hours", self.consultation.due_hours),
            ("diplomacy.due_hours", self.diplomacy.due_hours),
            ("authorization.due_hours", self.authorization.due_hours),
        ):
            if due > window:
                raise ValueError(f"{name} ({due}) is after activation_window_hours ({window})")
        if 1 not in self.escalation_levels:
            raise ValueError("escalation_levels must define level 1 (where every incident starts)")
        for kind, policy in self.kinds.items():
            unknown = [s for s in policy.diplomatic_steps if s not in self.diplomacy.steps]
            if unknown:
                raise ValueError(f"kinds.{kind}.diplomatic_steps names unknown steps: {unknown}")
        for position, rule in enumerate(self.escalations):
            where = f"escalations[{position}]"
            if rule.level not in self.escalation_levels:
                raise ValueError(f"{where}.level {rule.level} is not one of escalation_levels")
            if rule.at_hours > window:
                raise ValueError(
                    f"{where}.at_hours ({rule.at_hours}) is after activation_window_hours ({window})"
                )
            unknown = [k for k in rule.kinds if k not in self.kinds]
            if unknown:
                raise ValueError(f"{where}.kinds names unknown kinds: {unknown}")
        after = self.after_activation
        if after is not None:
            levels = [
                (f"after_activation.review_missed[{i}].level", r.level)
                for i, r in enumerate(after.review_missed)
            ] + [("after_activation.on_withdrawal.level", after.on_withdrawal.level)]
            for where, level in levels:
                if level not in self.escalation_levels:
                    raise ValueError(f"{where} {level} is not one of escalation_levels")
            if after.review_every_hours > after.max_days * 24:
                raise ValueError(
                    f"after_activation.review_every_hours ({after.review_every_hours}) is after "
                    f"max_days ({after.max_days})"
                )
        late = [h for h in self.communications.reminder_hours if h > window]
        if late:
            raise ValueError(
                f"communications.reminder_hours {late} are after activation_window_hours ({window})"
            )
        return self

    def to_plan(self) -> Plan:
        return Plan(
            id=self.id,
            title=self.title,
            version=self.version,
            activation_window_hours=self.activation_window_hours,
            verification_due_hours=self.verification.due_hours,
            min_sources=self.verification.min_sources,
            consultation_due_hours=self.consultation.due_hours,
            parties=tuple(self.consultation.parties),
            assets=tuple(self.consultation.assets),
            quorum=Quorum(
                min_committed=self.consultation.quorum.min_committed,
                required_assets=tuple(self.consultation.quorum.required_assets),
            ),
            diplomacy_due_hours=self.diplomacy.due_hours,
            steps=tuple(DiplomaticStep(id=k, title=v) for k, v in self.diplomacy.steps.items()),
            authorization_due_hours=self.authorization.due_hours,
            kinds=tuple(
                KindPolicy(
                    kind=name,
                    title=k.title,
                    when_unverified=k.when_unverified,
                    consultation=k.consultation,
                    military_response=k.military_response,
                    diplomatic_steps=tuple(k.diplomatic_steps),
                )
                for name, k in self.kinds.items()
            ),
            escalation_levels=tuple(
                EscalationLevel(level=level, authority=authority)
                for level, authority in sorted(self.escalation_levels.items())
            ),
            escalations=tuple(
                EscalationRule(
                    at_hours=r.at_hours,
                    unless=r.unless,
                    level=r.level,
                    reason=r.reason,
                    kinds=tuple(r.kinds),
                )
                for r in sorted(self.escalations, key=lambda r: r.at_hours)
            ),
            communications=Communications(
                reminder_hours=tuple(self.communications.reminder_hours),
                escalation_repeat_minutes=self.communications.escalation_repeat_minutes,
                delivery_attempts=self.communications.delivery_attempts,
            ),
            after_activation=None if self.after_activation is None else self._after(),
            reports=None
            if self.reports is None
            else Reports(
                related_within_hours=self.reports.related_within_hours,
                confirm_observed_beyond_hours=self.reports.confirm_observed_beyond_hours,
            ),
        )

    def _after(self) -> AfterActivation:
        after = self.after_activation
        assert after is not None
        return AfterActivation(
            phase=after.phase,
            title=after.title,
            review_every_hours=after.review_every_hours,
            review_missed=tuple(
                ReviewEscalation(missed=r.missed, level=r.level, reason=r.reason)
                for r in after.review_missed
            ),
            max_days=after.max_days,
            limit_reason=after.limit_reason,
            withdrawal_level=after.on_withdrawal.level,
            withdrawal_reason=after.on_withdrawal.reason,
        )


def load_plan_file(path: str | Path) -> Plan:
    """Load one plan file; raise :class:`DocumentError` naming the line and field at fault."""
    plan = load(path, PlanDocument).to_plan()
    stem = Path(path).stem
    if plan.id != stem:
        raise DocumentError(str(path), [f"id: {plan.id!r} must match the file name {stem!r}"])
    return plan


def plan_paths(directory: Path = PLANS_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if re.match(r"^[a-z][a-z0-9_-]*$", p.stem))


@cache
def load_plans(directory: Path = PLANS_DIR) -> dict[str, Plan]:
    """Every plan in ``directory`` by id. Cached: plans are read once per process."""
    return {p.stem: load_plan_file(p) for p in plan_paths(directory)}


def get_plan(plan_id: str = DEFAULT_PLAN_ID, directory: Path = PLANS_DIR) -> Plan:
    plans = load_plans(directory)
    try:
        return plans[plan_id]
    except KeyError:
        raise KeyError(f"unknown plan {plan_id!r}; known plans: {sorted(plans)}") from None
