"""Checking a report against the scenario's ``expect`` block."""

from __future__ import annotations

from exercises.report import ExerciseReport, ExpectationResult
from exercises.scenario import Expect
from foundation.durations import format_hours


def _hours(value: float | None) -> str:
    return "—" if value is None else f"T0+{format_hours(value)}"


def evaluate(
    expect: Expect, report: ExerciseReport, tolerance_hours: float = 0.05
) -> list[ExpectationResult]:
    """One result per key given in ``expect``.

    ``tolerance_hours`` absorbs clock jitter: a few minutes on the time-skipping server, about a
    real second's worth of plan time in live mode.
    """
    results: list[ExpectationResult] = []

    def check(name: str, expected: str, actual: str, met: bool) -> None:
        results.append(ExpectationResult(name=name, expected=expected, actual=actual, met=met))

    if expect.outcome is not None:
        check(
            "outcome",
            str(expect.outcome),
            str(report.outcome),
            report.outcome == str(expect.outcome),
        )
    if expect.activated_within is not None:
        at = report.activated_at_hours
        check(
            "activated_within",
            f"activated by {_hours(expect.activated_within)}",
            "not activated" if at is None else f"activated at {_hours(at)}",
            at is not None and at <= expect.activated_within + tolerance_hours,
        )
    if expect.activated_at is not None:
        at = report.activated_at_hours
        check(
            "activated_at",
            _hours(expect.activated_at),
            _hours(at),
            at is not None and abs(at - expect.activated_at) <= tolerance_hours,
        )
    if expect.closed_at is not None:
        at = report.closed_at_hours
        check(
            "closed_at",
            _hours(expect.closed_at),
            f"still {report.phase}" if at is None and report.phase != "closed" else _hours(at),
            at is not None and abs(at - expect.closed_at) <= tolerance_hours,
        )
    if expect.max_escalation_level is not None:
        check(
            "max_escalation_level",
            f"<= {expect.max_escalation_level}",
            str(report.escalation_level),
            report.escalation_level <= expect.max_escalation_level,
        )
    if expect.escalations is not None:
        wanted = sorted((e.level, e.at) for e in expect.escalations)
        actual = sorted((e.level, e.at_hours) for e in report.escalations)
        same = len(wanted) == len(actual) and all(
            wl == al and abs(wh - ah) <= tolerance_hours
            for (wl, wh), (al, ah) in zip(wanted, actual, strict=False)
        )
        check(
            "escalations",
            ", ".join(f"L{level} at {_hours(h)}" for level, h in wanted) or "none",
            ", ".join(f"L{level} at {_hours(h)}" for level, h in actual) or "none",
            same,
        )
    if expect.deadlines is not None:
        statuses = {d.name: d.status for d in report.deadlines}
        for name, status in expect.deadlines.items():
            check(
                f"deadline {name}",
                str(status),
                statuses.get(name, "absent"),
                statuses.get(name) == str(status),
            )
    if expect.rejected_injects is not None:
        count = len(report.rejected)
        check(
            "rejected_injects",
            str(expect.rejected_injects),
            str(count),
            count == expect.rejected_injects,
        )
    if expect.decisions is not None:
        kinds = {d.kind for d in report.decisions}
        missing = [k for k in expect.decisions if k not in kinds]
        check(
            "decisions",
            ", ".join(expect.decisions),
            "all present" if not missing else f"missing {', '.join(missing)}",
            not missing,
        )
    if expect.unmet is not None:
        check(
            "unmet",
            ", ".join(sorted(expect.unmet)) or "none",
            ", ".join(sorted(report.unmet_conditions)) or "none",
            sorted(expect.unmet) == sorted(report.unmet_conditions),
        )
    return results
