"""The sentences a sweep's figures are told in, written once so the console, the chart titles
and the report's tables say the same thing in the same digits."""

from __future__ import annotations

from foundation.durations import format_hours


def percent(p: float) -> str:
    return f"{p:.1%}"


def headline(summary) -> str:  # a SweepSummary
    low, high = summary.p_activated_within_window_ci95
    not_activated = summary.runs - summary.time_to_activation.count
    return (
        f"P(activation within {summary.window_hours:g} h) = "
        f"{percent(summary.p_activated_within_window)} "
        f"(95% CI {percent(low)}–{percent(high)}) over {summary.runs} runs; "
        f"{not_activated} not activated"
    )


def multimodal_warning(summary) -> str:  # a SweepSummary
    where = ", ".join(f"T0+{format_hours(m)}" for m in summary.time_to_activation_modes)
    median = summary.time_to_activation.p50
    told = "" if median is None else f" the median (T0+{format_hours(median)}) hides them:"
    return (
        f"Time to activation has {len(summary.time_to_activation_modes)} modes ({where}):"
        f"{told} runs activate in distinct waves, not around one typical time."
    )
