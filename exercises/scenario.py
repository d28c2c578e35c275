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
from statistics import NormalDist
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

from foundation.durations import format_hours, parse_hours
from foundation.yamlfile import load, parse
from plans.loader import DEFAULT_PLAN_ID, get_plan
from plans.model import Plan
from workflows.messages import (
    Action,
    Answer,
    DeadlineStatus,
    DeploymentStatus,
    NoteKind,
    Outcome,
)

Hours = Annotated[float, BeforeValidator(parse_hours)]
Probability = Annotated[float, Field(ge=0, le=1)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
_STANDARD_NORMAL = NormalDist()


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
        return self.quantile(rng.random())

    def quantile(self, u: float) -> float:
        """The value with probability ``u`` of not being exceeded (inverse transform sampling).

        One uniform draw per time, whatever the distribution: two variants that change a
        median or a range keep their runs paired, each run's time moving with its draw.
        """
        if self.lognormal is not None:
            z = _STANDARD_NORMAL.inv_cdf(min(max(u, 1e-12), 1 - 1e-12))
            value = math.exp(math.log(self.lognormal.median) + self.lognormal.sigma * z)
        elif self.uniform is not None:
            low, high = self.uniform
            value = low + (high - low) * u
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


def _plan_of(info: ValidationInfo) -> Plan | None:
    """The scenario's plan, when the loader knows it: names are checked against it, so a typo
    is an error here rather than "the ally refused" in the report."""
    return (info.context or {}).get("plan")


def _kind_of(plan: Plan | None, value: str) -> str:
    if plan is not None and not plan.has_kind(value):
        raise ValueError(
            f"{value!r} is not a kind of plan {plan.id} ({', '.join(plan.kind_names)})"
        )
    return value


class CommitmentInject(_Strict):
    party: Name
    # The examples write `decision: commit`; the API field is `answer`. Both are accepted.
    answer: Answer = Field(validation_alias="decision")
    assets: list[Name] = []
    actor: str = ""
    rationale: str = ""
    p_decline: Probability = 0.0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("party")
    @classmethod
    def _a_party_of_the_plan(cls, value: str, info: ValidationInfo) -> str:
        plan = _plan_of(info)
        if plan is not None and value not in plan.parties:
            raise ValueError(
                f"{value!r} is not a guarantor party of plan {plan.id} ({', '.join(plan.parties)})"
            )
        return value

    @field_validator("assets")
    @classmethod
    def _assets_of_the_plan(cls, value: list[str], info: ValidationInfo) -> list[str]:
        plan = _plan_of(info)
        unknown = [a for a in value if plan is not None and a not in plan.assets]
        if unknown:
            raise ValueError(f"unknown {unknown}; plan {plan.id} knows {list(plan.assets)}")
        return value


class DecisionInject(_Strict):
    action: Action
    actor: Text
    rationale: Text
    new_kind: Name | None = None
    # correct_t0 only: the violation's corrected time, in hours from the exercise's start
    # (negative: before the report reached the cell).
    t0_at: Hours | None = None

    @model_validator(mode="after")
    def _its_fields(self) -> DecisionInject:
        if (self.action is Action.CORRECT_T0) != (self.t0_at is not None):
            raise ValueError("t0_at: a correct_t0 decision gives t0_at, and only it")
        if self.action is Action.MERGE:
            raise ValueError(
                "action: a merge is its own inject (merge: {sector, reported_by, actor, "
                "rationale, ...}): it opens the incident it folds into the response"
            )
        return self

    @field_validator("new_kind")
    @classmethod
    def _a_kind_of_the_plan(cls, value: str | None, info: ValidationInfo) -> str | None:
        return value if value is None else _kind_of(_plan_of(info), value)


class JournalInject(_Strict):
    """The cell writes in its journal: a note, or a shift handover. It decides nothing."""

    text: Text
    actor: Text
    kind: NoteKind = NoteKind.NOTE


class JoinInject(_Strict):
    """Another report of the same offensive, from another sector, joins the response (as
    ``POST /v1/violations`` with ``joins``): its sector, its reporter (a source) and its
    evidence. ``observed_before``: how long before it is sent the violation was observed; one
    observed before the response's T0 moves T0 there."""

    sector: Name
    reported_by: Name
    kind: Name | None = None  # default: the violation's
    observed_before: Hours = Field(default=0.0, ge=0)
    summary: str = ""
    evidence: list[EvidenceInject] = []

    @field_validator("kind")
    @classmethod
    def _a_kind_of_the_plan(cls, value: str | None, info: ValidationInfo) -> str | None:
        return value if value is None else _kind_of(_plan_of(info), value)


class MergeInject(JoinInject):
    """A report of the same offensive that the cell first opened as an incident of its own,
    folded into the response by an operator when the inject goes out (the decision ``merge``):
    its reports, sources and answers join the response, and a violation observed before the
    response's T0 moves T0 there, firing what is then past."""

    actor: Text
    rationale: Text


class DeploymentInject(_Strict):
    """After activation, a committed party reports assets deployed or withdrawn (a withdrawal
    that breaks the quorum escalates and calls for replacements)."""

    party: Name
    status: DeploymentStatus
    assets: list[Name] = Field(min_length=1)
    actor: str = ""
    rationale: str = ""

    @field_validator("party")
    @classmethod
    def _a_party_of_the_plan(cls, value: str, info: ValidationInfo) -> str:
        return CommitmentInject._a_party_of_the_plan(value, info)

    @field_validator("assets")
    @classmethod
    def _assets_of_the_plan(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return CommitmentInject._assets_of_the_plan(value, info)


# What an inject can carry, one each (its ``kind``).
INJECT_KINDS = (
    "evidence",
    "commitment",
    "decision",
    "acknowledge",
    "journal",
    "deployment",
    "join",
    "merge",
)


class AcknowledgementInject(_Strict):
    """The authority of an escalation level acknowledges the notice awaiting it (the page stops
    repeating); refused when no notice to that level awaits acknowledgement then."""

    level: int
    actor: Text

    @field_validator("level")
    @classmethod
    def _a_level_of_the_plan(cls, value: int, info: ValidationInfo) -> int:
        plan = _plan_of(info)
        if plan is None:
            return value
        # The first level is where an incident starts: nobody is paged to it.
        levels = sorted(e.level for e in plan.escalation_levels)[1:]
        if value not in levels:
            raise ValueError(
                f"{value} is not a level an escalation notice goes to; plan {plan.id} "
                f"escalates to {levels}"
            )
        return value


class Inject(_Strict):
    at: Timing
    evidence: EvidenceInject | None = None
    commitment: CommitmentInject | None = None
    decision: DecisionInject | None = None
    acknowledge: AcknowledgementInject | None = None
    journal: JournalInject | None = None
    deployment: DeploymentInject | None = None
    join: JoinInject | None = None
    merge: MergeInject | None = None
    p_skip: Probability = 0.0
    note: str = ""
    # What pairs this inject with its counterpart in another variant of the scenario (common
    # random numbers); by default its kind and who sends it (exercises/script.py: inject_keys).
    key: Name | None = None

    @model_validator(mode="after")
    def _one_input(self) -> Inject:
        given = [n for n in INJECT_KINDS if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an inject carries exactly one of {', '.join(INJECT_KINDS)} (got {given or 'none'})"
            )
        if self.at.nominal < 0 or (self.at.uniform is not None and self.at.uniform[0] < 0):
            raise ValueError("at: injects happen after the exercise starts (at >= 0)")
        return self

    @property
    def kind(self) -> str:
        return next(n for n in INJECT_KINDS if getattr(self, n) is not None)


class Violation(_Strict):
    kind: Name
    sector: Name
    reported_by: Name
    summary: str = ""
    observed_at: Timing = Timing(fixed=0.0)
    evidence: list[EvidenceInject] = []
    report_id: Name | None = None

    @field_validator("kind")
    @classmethod
    def _a_kind_of_the_plan(cls, value: str, info: ValidationInfo) -> str:
        return _kind_of(_plan_of(info), value)

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
    activated_at: Hours | None = None
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
        cls, value: dict[str, DeadlineStatus] | None, info: ValidationInfo
    ) -> dict[str, DeadlineStatus] | None:
        plan = _plan_of(info)
        names = [d.name for d in plan.deadlines] if plan else []
        unknown = sorted(set(value or {}) - set(names)) if plan else []
        if unknown:
            raise ValueError(f"unknown deadline(s) {unknown}; the plan's deadlines are {names}")
        return value

    @field_validator("unmet")
    @classmethod
    def _steps_activation_needs(
        cls, value: list[str] | None, info: ValidationInfo
    ) -> list[str] | None:
        plan = _plan_of(info)
        needed = [d.name for d in plan.deadlines if d.required_for_activation] if plan else []
        unknown = [name for name in value or () if plan and name not in needed]
        if unknown:
            raise ValueError(
                f"unknown {unknown}: activation needs the plan's steps {needed}, by name"
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

    @model_validator(mode="after")
    def _keys_unique(self) -> Scenario:
        keys = [i.key for i in self.injects if i.key is not None]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"injects: each key names one inject; repeated: {repeated}")
        return self

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

    def warnings(self) -> list[tuple[tuple[str | int, ...], str]]:
        """What will run but is probably not what the planner meant: (where, what)."""
        window = self.plan_data.activation_window_hours
        lead = -self.violation.observed_at.nominal
        found: list[tuple[tuple[str | int, ...], str]] = []
        # Under a plan with a life after activation, an authorized response stays open past the
        # window: injects after it are meant for the active response.
        lives_on = self.plan_data.after_activation is not None and any(
            i.decision is not None
            and i.decision.action is Action.AUTHORIZE
            and lead + i.at.nominal <= window
            for i in self.injects
        )
        for index, inject in enumerate(self.injects):
            at = lead + inject.at.nominal
            if at > window and not lives_on:
                found.append(
                    (
                        ("injects", index, "at"),
                        f"T0+{format_hours(at)} is after the response window closes "
                        f"(T0+{format_hours(window)}): the incident will have closed",
                    )
                )
        return found


def _context(data: object) -> dict[str, Any]:
    """The validation context of a scenario: its plan, read before the rest is validated."""
    plan_id = data.get("plan", DEFAULT_PLAN_ID) if isinstance(data, dict) else DEFAULT_PLAN_ID
    try:
        return {"plan": get_plan(plan_id)}
    except (KeyError, TypeError):
        return {}  # the plan field itself is at fault, and says so


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file; raise :class:`foundation.yamlfile.DocumentError` naming line and field."""
    return load(path, Scenario, context_of=_context)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    return parse(text, Scenario, source, context_of=_context)
