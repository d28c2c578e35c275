"""The exercise report as the room reads it in a terminal: a timeline, the deadlines, the verdict."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from exercises.report import ExerciseReport
from foundation.durations import format_hours
from workflows.decisions import DecisionKind
from workflows.messages import Outcome

OUTCOME_STYLE = {
    Outcome.ACTIVATED: "bold green",
    Outcome.DIPLOMATIC_RESPONSE: "bold cyan",
    Outcome.STOOD_DOWN: "bold yellow",
    Outcome.CANCELLED: "bold yellow",
    Outcome.MERGED: "bold cyan",
    Outcome.UNVERIFIED_CLOSED: "bold yellow",
    Outcome.NOT_ACTIVATED: "bold red",
}
KIND_STYLE = {
    DecisionKind.ESCALATED: "bold magenta",
    DecisionKind.LAPSED: "red",
    DecisionKind.QUORUM_LOST: "red",
    DecisionKind.VERIFIED: "green",
    DecisionKind.PRESUMED: "yellow",
    DecisionKind.QUORUM_REACHED: "green",
    DecisionKind.AUTHORIZE: "bold green",
    DecisionKind.DISPATCHED: "cyan",
    DecisionKind.DISPATCH_FAILED: "bold red",
}


def t(hours: float | None) -> str:
    return "—" if hours is None else f"T0+{format_hours(hours)}"


def timeline_table(report: ExerciseReport) -> Table:
    table = Table(
        title="Timeline (hours after T0, the observed time)", expand=True, title_justify="left"
    )
    table.add_column("When", no_wrap=True, style="bold")
    table.add_column("What", no_wrap=True)
    table.add_column("Who", no_wrap=True)
    table.add_column("Detail", ratio=1)
    inject_seqs = {i.seq for i in report.injects if i.seq is not None}
    rows: list[tuple[float, int, Text, str, str, str]] = []
    for d in report.decisions:
        label = Text(
            ("▶ " if d.seq in inject_seqs else "  ") + d.kind, style=KIND_STYLE.get(d.kind, "")
        )
        if d.kind == report.outcome:
            label.stylize(OUTCOME_STYLE.get(d.kind, "bold"))
        said = " — ".join(part for part in (d.detail, d.rationale) if part)
        rows.append((d.at_hours, d.seq, label, t(d.at_hours), d.actor, said))
    for i in report.injects:
        if i.accepted:
            continue
        label = Text(
            "○ skipped" if i.skipped else "✗ refused", style="dim" if i.skipped else "bold red"
        )
        # Refusals sort after whatever the workflow logged at the same moment.
        rows.append(
            (i.at_hours, 10**6, label, t(i.at_hours), "inject", f"{i.description}: {i.message}")
        )
    for _hours, _, label, when, who, detail in sorted(rows, key=lambda r: (r[0], r[1])):
        table.add_row(when, label, who, detail)
    return table


def deadlines_table(report: ExerciseReport) -> Table:
    table = Table(title="Plan steps: planned versus actual", title_justify="left")
    for column in ("Step", "Due", "Done", "Status"):
        table.add_column(column)
    for d in report.deadlines:
        style = {"met": "green", "missed": "bold red"}.get(d.status, "dim")
        table.add_row(d.title, t(d.due_hours), t(d.actual_hours), Text(d.status, style=style))
    return table


def expectations_table(report: ExerciseReport) -> Table:
    table = Table(title="Expectations", title_justify="left")
    for column in ("", "Expectation", "Expected", "Actual"):
        table.add_column(column)
    for e in report.expectations:
        mark = Text("✓", style="bold green") if e.met else Text("✗", style="bold red")
        table.add_row(mark, e.name, e.expected, e.actual)
    return table


def header(report: ExerciseReport) -> Panel:
    outcome = Text(report.outcome or "open", style=OUTCOME_STYLE.get(report.outcome or "", "bold"))
    lines = Text.assemble(
        ("Outcome: ", "bold"),
        outcome,
        ("   activated at ", ""),
        (t(report.activated_at_hours), "bold"),
        ("   closed at ", ""),
        (t(report.closed_at_hours), "bold"),
        ("   escalation level ", ""),
        (str(report.escalation_level), "bold"),
        "\n",
        (
            f"{report.kind} · plan {report.plan_id} v{report.plan_version} · report at {t(report.lead_hours)} · "
            f"{report.mode}"
            + (f" ×{report.time_scale:g}" if report.mode == "live" else "")
            + f" · {report.workflow_id} · {report.wall_seconds:.2f} s",
            "dim",
        ),
    )
    if report.unmet_conditions and report.outcome == Outcome.NOT_ACTIVATED:
        lines.append(f"\nHeld back by: {', '.join(report.unmet_conditions)}", style="red")
    return Panel(lines, title=f"EXERCISE · {report.scenario}", border_style="cyan")


def print_report(report: ExerciseReport, console: Console | None = None) -> None:
    console = console or Console()
    parts: list = [header(report), timeline_table(report), deadlines_table(report)]
    if report.expectations:
        parts.append(expectations_table(report))
    console.print(Group(*parts))
    verdict = (
        "all expectations met"
        if report.passed
        else f"{sum(not e.met for e in report.expectations)} expectation(s) failed"
    )
    console.print(Text(verdict, style="bold green" if report.passed else "bold red"))
