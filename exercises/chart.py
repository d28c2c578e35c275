"""Charts for after-action reports, rendered to PNG with matplotlib's Agg canvas (no display,
no pyplot global state, safe in a worker thread)."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from exercises.report import ExerciseReport

PHASE_COLOURS = {
    "verification": "#bebada",
    "consultation": "#e5c494",
    "authorization": "#fc8d62",
    "monitoring": "#80b1d3",
}
MET, MISSED, MOOT = "#2ca25f", "#de2d26", "#bdbdbd"
# Escalation labels closer than this (in hours) would overlap on one line.
LABEL_HOURS = 8.0
INJECT_COLOURS = {
    "evidence": "#3182bd",
    "commitment": "#756bb1",
    "decision": "#31a354",
    "acknowledge": "#e6550d",
    "journal": "#969696",
    "deployment": "#8c6d31",
    "join": "#d6616b",
}


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def timeline_png(report: ExerciseReport) -> bytes:
    return _png(timeline_figure(report))


def timeline_figure(report: ExerciseReport) -> Figure:
    """Phases and plan steps as bars against their deadlines; injects and escalations as markers."""
    end = (
        max(report.window_hours, report.closed_at_hours or 0, *(i.at_hours for i in report.injects))
        + 3
    )
    start = min(0.0, *(i.at_hours for i in report.injects)) if report.injects else 0.0
    steps = list(report.deadlines)
    rows = ["Phase", *[d.title for d in steps], "Injects", "Escalations"]
    y = {name: len(rows) - 1 - i for i, name in enumerate(rows)}

    figure = Figure(figsize=(11, 0.55 * len(rows) + 1.6))
    ax = figure.add_subplot()

    for span in report.phases:
        width = max(span.end_hours - span.start_hours, 0.15)
        ax.barh(
            y["Phase"],
            width,
            left=span.start_hours,
            height=0.6,
            color=PHASE_COLOURS.get(span.phase, MOOT),
            edgecolor="white",
        )
        if width > 7:
            ax.text(
                span.start_hours + width / 2,
                y["Phase"],
                span.phase,
                ha="center",
                va="center",
                fontsize=8,
            )

    closed = report.closed_at_hours if report.closed_at_hours is not None else report.window_hours
    for d in steps:
        row = y[d.title]
        if d.status == "not_applicable":
            ax.text(
                report.lead_hours + 0.5,
                row,
                "not applicable to this kind",
                va="center",
                fontsize=8,
                color="grey",
            )
        else:
            done = d.actual_hours if d.actual_hours is not None else closed
            colour = MET if d.status == "met" else MISSED if d.status == "missed" else MOOT
            ax.barh(
                row,
                max(done - report.lead_hours, 0.15),
                left=report.lead_hours,
                height=0.5,
                color=colour,
                alpha=0.85,
            )
        ax.plot([d.due_hours, d.due_hours], [row - 0.38, row + 0.38], color="black", linewidth=2.2)
        ax.text(d.due_hours + 0.4, row + 0.28, f"due {d.due_hours:g}h", fontsize=7)

    for inject in report.injects:
        row = y["Injects"]
        if inject.skipped:
            ax.scatter(inject.at_hours, row, s=45, facecolors="none", edgecolors="grey", zorder=3)
        elif inject.accepted:
            ax.scatter(inject.at_hours, row, s=45, color=INJECT_COLOURS[inject.kind], zorder=3)
        else:
            ax.scatter(inject.at_hours, row, s=70, marker="X", color=MISSED, zorder=3)

    # Several rules can fire at one instant (a late report): one marker, one label counting them
    # by level; labels of markers close together alternate above and below the row.
    by_time: dict[float, list[int]] = {}
    for escalation in report.escalations:
        by_time.setdefault(round(escalation.at_hours, 2), []).append(escalation.level)
    previous: float | None = None
    above = True
    for at, levels in sorted(by_time.items()):
        ax.scatter(at, y["Escalations"], s=90, marker="^", color="#7a0177", zorder=3)
        counts = Counter(levels)
        label = " ".join(
            f"L{level}" + (f"×{n}" if n > 1 else "") for level, n in sorted(counts.items())
        )
        above = not above if previous is not None and at - previous < LABEL_HOURS else True
        previous = at
        ax.text(
            at + 0.6,
            y["Escalations"] + (0.22 if above else -0.22),
            label,
            fontsize=8,
            color="#7a0177",
            va="center",
        )

    ax.axvline(0, color="black", linewidth=0.8)
    ax.axvline(report.lead_hours, color="grey", linestyle=":", linewidth=1)
    ax.axvline(report.window_hours, color=MISSED, linestyle="--", linewidth=1.2)
    if report.closed_at_hours is not None:
        ax.axvline(report.closed_at_hours, color="black", linestyle="-.", linewidth=1)
        ax.text(
            report.closed_at_hours,
            len(rows) - 0.45,
            f" {report.outcome}",
            fontsize=8,
            fontweight="bold",
        )
    ax.set_yticks([y[r] for r in rows], rows)
    ax.set_xlim(start - 1, end)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("hours after T0 (the observed time)")
    ax.set_title(f"{report.scenario} — {report.outcome or 'open'}", fontsize=11, loc="left")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(
        handles=[
            *(Patch(color=c, label=f"phase: {p}") for p, c in PHASE_COLOURS.items()),
            Patch(color=MET, label="step done in time"),
            Patch(color=MISSED, label="step late / not done"),
            Line2D([], [], color="black", linewidth=2.2, label="deadline"),
            *(
                Line2D([], [], marker="o", linestyle="", color=c, label=f"{kind} accepted")
                for kind, c in INJECT_COLOURS.items()
            ),
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markerfacecolor="none",
                color="grey",
                label="inject skipped",
            ),
            Line2D([], [], marker="X", linestyle="", color=MISSED, label="inject refused"),
            Line2D([], [], marker="^", linestyle="", color="#7a0177", label="escalation"),
            Line2D([], [], color="grey", linestyle=":", label="report received"),
            Line2D(
                [], [], color=MISSED, linestyle="--", label=f"window T0+{report.window_hours:g}h"
            ),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=4,
        fontsize=8,
        frameon=False,
    )
    return figure


def activation_histogram_png(
    times: Sequence[float], window_hours: float, title: str, headline: str
) -> bytes:
    """Time to activation across a sweep, against the activation window; ``headline`` (the
    report's own sentence for its figures) under the title."""
    figure = Figure(figsize=(9, 4))
    ax = figure.add_subplot()
    top = max([window_hours, *times]) + 4
    bins = [i * 2.0 for i in range(int(top // 2) + 2)]
    if times:
        ax.hist(
            times, bins=bins, color="#3182bd", edgecolor="white", label=f"activated ({len(times)})"
        )
    ax.axvline(
        window_hours,
        color=MISSED,
        linestyle="--",
        linewidth=1.5,
        label=f"T0+{window_hours:g}h window",
    )
    ax.set_title(f"{title}\n{headline}", fontsize=10, loc="left")
    ax.set_xlabel("time to activation, hours after T0")
    ax.set_ylabel("runs")
    ax.set_xlim(0, top)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(figure)


def tornado_png(
    rows: Sequence[tuple[str, float, float, str, str]], overall: float, title: str
) -> bytes:
    """A tornado chart of the sensitivity: per parameter (most effect on top), a bar from its
    worst bucket's P(activation) to its best, across the sweep's overall P(activation).

    ``rows``: (parameter, lowest P, highest P, lowest bucket, highest bucket)."""
    shown = list(rows)[:12]
    figure = Figure(figsize=(9, 0.45 * max(len(shown), 1) + 1.4))
    ax = figure.add_subplot()
    for y, (_name, low, high, low_label, high_label) in enumerate(reversed(shown)):
        ax.barh(y, high - low, left=low, height=0.6, color="#3182bd")
        ax.text(low, y, f"{low_label} ", va="center", ha="right", fontsize=7)
        ax.text(high, y, f" {high_label}", va="center", ha="left", fontsize=7)
    ax.axvline(overall, color="black", linewidth=1, label=f"overall {overall:.1%}")
    ax.set_yticks(range(len(shown)), [r[0] for r in reversed(shown)], fontsize=8)
    ax.set_xlim(-0.15, 1.15)
    ax.set_xlabel("P(activation within the window) across the parameter's values")
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _png(figure)


def levels_png(levels: dict[str, int], title: str) -> bytes:
    """How many runs reached each escalation level (their highest)."""
    figure = Figure(figsize=(6, 2.8))
    ax = figure.add_subplot()
    names = sorted(levels, key=int)
    ax.bar([f"level {n}" for n in names], [levels[n] for n in names], color="#7a0177")
    for i, n in enumerate(names):
        ax.text(i, levels[n], str(levels[n]), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("runs")
    ax.set_title(title, fontsize=10, loc="left")
    return _png(figure)
