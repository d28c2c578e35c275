"""Scenario files: a violation, a script of injects at times relative to the report, and what
the exercise expects to happen. Validated on load, before anything runs.

Times:
- ``violation.observed_at`` and every inject's ``at`` are offsets from the exercise start, which
  is when the report reaches the cell (``observed_at: -50h`` = a report that arrives 50 h late).
- Everything in ``expect`` and in the report is in hours after T0, the observed time, like the plan.

A time may be fixed (``2h``) or, for Monte Carlo sweeps, drawn from a distribution
(``{lognormal: {median: 20h, sigma: 0.5}}``, ``{uniform: [6h, 30h]}``). A single run uses the
distribution's nominal value (the median, the midpoint).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from exercises.durations import format_hours, parse_hours
from foundation.yamlfile import load, parse
from plans.loader import get_plan
from plans.model import Plan
from workflows.messages import Action, Answer, DeadlineStatus, Outcome
from workflows.state import DEADLINE_TITLES

Hours = Annotated[float, BeforeValidator(parse_hours)]
Probability = Annotated[float, Field(ge=0, le=1)]
Text = Annotated[str, Field(min_length=1, max_length=500)]


def _name(value: object) -> object:
    # YAML 1.1 reads a bare `no` (Norway) as false: say so rather than fail obscurely.
    if isinstance(value, bool):
        raise ValueError(
            f"{value!r} is not a name; quote it (YAML reads bare no/yes/on/off as booleans)"
        )
    return value


Name = Annotated[str, BeforeValidator(_name), Field(min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lognormal(_Strict):
    median: Hours = Field(gt=0)
    sigma: float = Field(ge=0, le=5)


class Timing(_Strict):
    """A fixed offset, or a distribution to sample one from."""

    fixed: Hours | None = None
    lognormal: Lognormal | None = None
    uniform: tuple[Hours, Hours] | None = None

    @model_validator(mode="before")
    @classmethod
    def _scalar_is_fixed(cls, value: Any) -> Any:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return {"fixed": parse_hours(value)}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Timing:
        given = [n for n in ("fixed", "lognormal", "uniform") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give a duration (2h) or one distribution: {lognormal: {median, sigma}} or {uniform: [a, b]}"
            )
        if self.uniform is not None and self.uniform[0] > self.uniform[1]:
            raise ValueError(
                f"uniform: the lower bound {self.uniform[0]}h is above the upper {self.uniform[1]}h"
            )
        return self

    @property
    def is_random(self) -> bool:
        return self.fixed is None

    @property
    def nominal(self) -> float:
        if self.lognormal is not None:
            return self.lognormal.median
        if self.uniform is not None:
            return (self.uniform[0] + self.uniform[1]) / 2
        assert self.fixed is not None
        return self.fixed

    def sample(self, rng: random.Random) -> float:
        if self.lognormal is not None:
            value = rng.lognormvariate(math.log(self.lognormal.median), self.lognormal.sigma)
        elif self.uniform is not None:
            value = rng.uniform(*self.uniform)
        else:
            assert self.fixed is not None
            return self.fixed
        # To the minute: a sweep is then exactly reproducible whatever the server's clock jitter.
        return round(value * 60) / 60

    def describe(self) -> str:
        if self.lognormal is not None:
            return f"lognormal(median {format_hours(self.lognormal.median)}, σ {self.lognormal.sigma:g})"
        if self.uniform is not None:
            return f"uniform({format_hours(self.uniform[0])}–{format_hours(self.uniform[1])})"
        return format_hours(self.nominal)


class EvidenceInject(_Strict):
    source: Name
    summary: str = ""
    actor: str = ""


class CommitmentInject(_Strict):
    party: Name
    # The examples write `decision: commit`; the API field is `answer`. Both are accepted.
    answer: Answer = Field(validation_alias="decision")
    assets: list[Name] = []
    actor: str = ""
    rationale: str = ""
    p_decline: Probability = 0.0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DecisionInject(_Strict):
    action: Action
    actor: Text
    rationale: Text
    new_kind: Name | None = None


class Inject(_Strict):
    at: Timing
    evidence: EvidenceInject | None = None
    commitment: CommitmentInject | None = None
    decision: DecisionInject | None = None
    p_skip: Probability = 0.0
    note: str = ""

    @model_validator(mode="after")
    def _one_input(self) -> Inject:
        given = [n for n in ("evidence", "commitment", "decision") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an inject carries exactly one of evidence, commitment, decision (got {given or 'none'})"
            )
        if self.at.nominal < 0 or (self.at.uniform is not None and self.at.uniform[0] < 0):
            raise ValueError("at: injects happen after the exercise starts (at >= 0)")
        return self

    @property
    def kind(self) -> str:
        return "evidence" if self.evidence else "commitment" if self.commitment else "decision"


class Violation(_Strict):
    kind: Name
    sector: Name
    reported_by: Name
    summary: str = ""
    observed_at: Timing = Timing(fixed=0.0)
    evidence: list[EvidenceInject] = []
    report_id: Name | None = None

    @field_validator("observed_at")
    @classmethod
    def _not_after_report(cls, value: Timing) -> Timing:
        if not value.is_random and value.nominal > 0:
            raise ValueError(
                "a violation is observed before (or when) it is reported: use 0h or a negative offset"
            )
        return value


class EscalationExpect(_Strict):
    level: int = Field(ge=1)
    at: Hours


class Expect(_Strict):
    """What must hold at the end. Hours are after T0."""

    outcome: Outcome | None = None
    activated_within: Hours | None = None
    closed_at: Hours | None = None
    max_escalation_level: int | None = Field(default=None, ge=1)
    escalations: list[EscalationExpect] | None = None
    deadlines: dict[str, DeadlineStatus] | None = None
    rejected_injects: int | None = Field(default=None, ge=0)
    decisions: list[Name] | None = None
    unmet: list[Name] | None = None

    @field_validator("deadlines")
    @classmethod
    def _known_deadlines(
        cls, value: dict[str, DeadlineStatus] | None
    ) -> dict[str, DeadlineStatus] | None:
        unknown = sorted(set(value or {}) - set(DEADLINE_TITLES))
        if unknown:
            raise ValueError(
                f"unknown deadline(s) {unknown}; the plan's deadlines are {list(DEADLINE_TITLES)}"
            )
        return value


class Scenario(_Strict):
    name: Text
    description: str = ""
    plan: Name = "allied-72h"
    violation: Violation
    injects: list[Inject] = []
    expect: Expect = Expect()

    @field_validator("plan")
    @classmethod
    def _plan_exists(cls, value: str) -> str:
        try:
            get_plan(value)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        return value

    @field_validator("violation")
    @classmethod
    def _kind_in_plan(cls, value: Violation, info: ValidationInfo) -> Violation:
        if "plan" not in info.data:
            return value  # the plan itself is at fault, and said so
        plan = get_plan(info.data["plan"])
        if not plan.has_kind(value.kind):
            raise ValueError(
                f"kind: {value.kind!r} is not a kind of plan {plan.id} ({', '.join(plan.kind_names)})"
            )
        return value

    @property
    def plan_data(self) -> Plan:
        return get_plan(self.plan)

    @property
    def is_random(self) -> bool:
        return self.violation.observed_at.is_random or any(
            i.at.is_random
            or i.p_skip > 0
            or (i.commitment is not None and i.commitment.p_decline > 0)
            for i in self.injects
        )


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file; raise :class:`foundation.yamlfile.DocumentError` naming line and field."""
    return load(path, Scenario)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    return parse(text, Scenario, source)
