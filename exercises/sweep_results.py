"""What a sweep keeps of one run, whichever path ran it (the fast path or the real workflow):
the same fields from the same report, so the two can be compared field by field."""

from __future__ import annotations

from pydantic import BaseModel

from exercises.report import ExerciseReport
from plans.model import Condition, Plan
from workflows.messages import DeadlineStatus, Outcome, Phase

Drawn = dict[str, float | str | bool]


class RunResult(BaseModel):
    run: int
    outcome: str
    activated_at_hours: float | None
    closed_at_hours: float | None
    escalation_level: int
    escalations: list[tuple[int, float]] = []  # (level, hours after T0), in the order they came
    unmet: list[str]
    last_condition: str | None  # among verification/quorum/authorization, the one met last
    rejected_injects: int
    expectations_met: bool
    drawn: Drawn = {}  # the run's drawn values, by parameter (exercises/script.py)
    error: str = ""

    def verdict(self) -> dict[str, object]:
        """What both paths must agree on: the outcome, the escalations and the times, at the
        sweep's minute resolution. Not the decision list: effects that never change these (a
        notice recorded as delivered) may differ in detail between the paths."""
        return {
            "outcome": self.outcome,
            "activated_at_hours": self.activated_at_hours,
            "closed_at_hours": self.closed_at_hours,
            "escalation_level": self.escalation_level,
            "escalations": [tuple(e) for e in self.escalations],
            "unmet": self.unmet,
            "last_condition": self.last_condition,
            "rejected_injects": self.rejected_injects,
        }


def error_result(run: int, exc: BaseException, drawn: Drawn | None = None) -> RunResult:
    return RunResult(
        run=run,
        outcome="error",
        activated_at_hours=None,
        closed_at_hours=None,
        escalation_level=0,
        unmet=[],
        last_condition=None,
        rejected_injects=0,
        expectations_met=False,
        drawn=drawn or {},
        error=f"{type(exc).__name__}: {exc}",
    )


def minute(hours: float | None) -> float | None:
    # Draws are to the minute; rounding absorbs the server clock's sub-second jitter.
    return None if hours is None else round(hours * 60) / 60


def _last_condition(report: ExerciseReport, plan: Plan) -> str | None:
    """Among the steps activation needs, the one done last (ties go to the later step)."""
    if report.outcome != str(Outcome.ACTIVATED):
        return None
    verification_ended = next(
        (p.end_hours for p in report.phases if p.phase == Phase.VERIFICATION), None
    )
    done: dict[str, float] = {}
    for record in report.deadlines:
        step = plan.deadline(record.name)
        if not step.required_for_activation or record.status == DeadlineStatus.NOT_APPLICABLE:
            continue
        at = record.actual_hours
        if at is None and step.condition is Condition.VERIFIED:
            at = verification_ended  # presumed: the plan proceeded without verification
        if at is not None:
            done[record.name] = at
    order = [d.name for d in plan.deadlines]
    return max(done, key=lambda name: (round(done[name], 3), order.index(name))) if done else None


def summarize_run(
    run: int, report: ExerciseReport, plan: Plan, drawn: Drawn | None = None
) -> RunResult:
    return RunResult(
        run=run,
        outcome=report.outcome or "open",
        activated_at_hours=minute(report.activated_at_hours),
        closed_at_hours=minute(report.closed_at_hours),
        escalation_level=report.escalation_level,
        escalations=[(e.level, minute(e.at_hours) or 0.0) for e in report.escalations],
        unmet=sorted(report.unmet_conditions),
        last_condition=_last_condition(report, plan),
        rejected_injects=len(report.rejected),
        expectations_met=report.passed,
        drawn=drawn or {},
    )
