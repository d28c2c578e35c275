"""After-action reports: HTML (self-contained, the chart embedded as a base64 PNG) and Markdown
(the chart written next to it)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape
from pathlib import Path

from exercises.chart import activation_histogram_png, levels_png, timeline_png, tornado_png
from exercises.console import t
from exercises.conversation import answers, messages
from exercises.report import ExerciseReport
from exercises.sweep import SweepSummary, VariantComparison
from exercises.sweep_text import headline, multimodal_warning, percent
from workflows.decisions import DecisionKind

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.9em} th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} .met{color:#1a7f37;font-weight:600} .missed,.refused,.failed{color:#c62828;font-weight:600}
.muted{color:#777} .banner{background:#fff3cd;border:1px solid #e0c96b;padding:.4em .8em;display:inline-block;font-weight:600}
img{max-width:100%;border:1px solid #eee}
"""


def _table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(
            "<tr>"
            + "".join(
                f"<td{cls if j == len(row) - 1 else ''}>{escape(c)}</td>" for j, c in enumerate(row)
            )
            + "</tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


STEPS_TITLE = "Plan steps: planned versus actual"
SLACK_NOTE = (
    "Slack: hours to spare between when a step was done and its deadline; negative when it was "
    "done after the deadline (a step done late still shows when it was done)."
)


def slack(due_hours: float, done_hours: float | None) -> str:
    if done_hours is None:
        return "—"
    spare = due_hours - done_hours
    return f"{spare:+.1f} h" + (" (late)" if spare < 0 else "")


def _sections(report: ExerciseReport) -> list[tuple[str, list[str], list[list[str]], list[str]]]:
    """(title, headers, rows, row classes) for every table of the report, shared by both formats."""
    steps = [
        [d.title, t(d.due_hours), t(d.actual_hours), slack(d.due_hours, d.actual_hours), d.status]
        for d in report.deadlines
    ]
    escalations = [
        [t(e.at_hours), f"L{e.level}", e.authority, e.reason] for e in report.escalations
    ]
    decisions = [
        [str(d.seq), t(d.at_hours), d.kind, d.detail, d.actor, d.rationale]
        for d in report.decisions
    ]
    injects = [
        [
            t(i.at_hours),
            f"+{i.offset_hours:g}h",
            i.kind,
            i.description,
            "skipped" if i.skipped else "accepted" if i.accepted else "refused",
            i.message,
        ]
        for i in report.injects
    ]
    notifications = [
        [n.step, n.title, n.channel, "yes" if n.exercise else "no"] for n in report.notifications
    ]
    sent = [
        [
            t(m.at_hours),
            m.notice_kind.replace("_", " ") + (f" (repeat {m.repeat})" if m.repeat else ""),
            ", ".join(m.delivered) or "—",
            ", ".join(m.undelivered) or "—",
        ]
        for m in messages(report.decisions)
    ]
    asked = answers(report.decisions)
    answered = [
        [
            a.audience,
            t(a.asked_at_hours),
            t(a.answered_at_hours),
            "—" if a.took_hours is None else f"{a.took_hours:.1f} h",
            a.answer or "no answer",
            a.by,
        ]
        for a in asked
    ]
    journal = [
        [t(d.at_hours), d.actor, str(d.payload.get("note", "note")), d.rationale]
        for d in report.decisions
        if d.kind == DecisionKind.NOTE
    ]
    after = after_activation(report)
    reports = [
        [
            t(d.at_hours),
            str(d.payload.get("sector", "")),
            str(d.payload.get("reported_by", "")),
            d.detail,
        ]
        if d.kind == DecisionKind.REPORT_JOINED
        else [
            t(d.at_hours),
            ", ".join(d.payload.get("sectors") or ()),
            f"incident {d.payload.get('incident')}, merged by {d.actor}",
            d.detail,
        ]
        for d in report.decisions
        if d.kind in (DecisionKind.REPORT_JOINED, DecisionKind.ABSORBED)
    ]
    expectations = [
        [e.name, e.expected, e.actual, "met" if e.met else "failed"] for e in report.expectations
    ]
    return [
        (
            STEPS_TITLE,
            ["Step", "Due", "Done", "Slack", "Status"],
            steps,
            [d.status for d in report.deadlines],
        ),
        (
            "Escalations",
            ["When", "Level", "Authority", "Reason"],
            escalations,
            [""] * len(escalations),
        ),
        (
            "Decision log",
            ["#", "When", "Decision", "Decided", "Actor", "Rationale"],
            decisions,
            [""] * len(decisions),
        ),
        (
            "Injects",
            ["When", "After start", "Kind", "Inject", "Result", "Workflow's answer"],
            injects,
            ["" for _ in injects],
        ),
        (
            "Notifications (exercise sink: nothing left the machine)",
            ["Step", "Title", "Channel", "Exercise"],
            notifications,
            [""] * len(notifications),
        ),
        (
            "Messages (exercise: marked EXERCISE, nothing reached a real person)",
            ["When", "Notice", "Delivered to", "Undelivered"],
            sent,
            [""] * len(sent),
        ),
        (
            "How long each audience took to answer",
            ["Audience", "Asked", "Answered", "Took", "Answer", "By"],
            answered,
            ["" if a.answered_at_hours is not None else "missed" for a in asked],
        ),
        (
            "Cell journal",
            ["When", "By", "Kind", "Note"],
            journal,
            [""] * len(journal),
        ),
        (
            "Reports joined or merged into the response",
            ["When", "Sector", "Reported by", "What it added"],
            reports,
            [""] * len(reports),
        ),
        (
            "After activation",
            ["When", "What", "Decided", "Actor", "Rationale"],
            after,
            [""] * len(after),
        ),
        (
            "Expectations",
            ["Expectation", "Expected", "Actual", "Result"],
            expectations,
            ["met" if e.met else "failed" for e in report.expectations],
        ),
    ]


# What the response's life after activation is made of, in the report's own section.
AFTER_KINDS = frozenset(
    {
        DecisionKind.ACTIVATED,
        DecisionKind.DEPLOYED,
        DecisionKind.WITHDRAWN,
        DecisionKind.QUORUM_LOST,
        DecisionKind.QUORUM_REACHED,
        DecisionKind.ESCALATED,
        DecisionKind.LAPSED,
        DecisionKind.COMMITMENT,
        DecisionKind.REVIEW,
        DecisionKind.TERMINATE,
        DecisionKind.STAND_DOWN,
        DecisionKind.TERMINATED,
    }
)


def after_activation(report: ExerciseReport) -> list[list[str]]:
    """The post-activation timeline: from the activation on, what the forces and the cell did."""
    start = next((i for i, d in enumerate(report.decisions) if d.kind == "activated"), None)
    if start is None or not any(d.kind != "activated" for d in report.decisions[start + 1 :]):
        return []
    return [
        [t(d.at_hours), d.kind.replace("_", " "), d.detail, d.actor, d.rationale]
        for d in report.decisions[start:]
        if d.kind in AFTER_KINDS
    ]


def _summary(
    report: ExerciseReport, strong: Callable[[str], str], code: Callable[[str], str]
) -> str:
    """The header line, with ``strong`` and ``code`` marking up the outcome and the workflow id
    in the report's own format (so neither format shows the other's markup)."""
    mode = report.mode + (f" ×{report.time_scale:g}" if report.mode == "live" else "")
    return " · ".join(
        part
        for part in [
            f"Outcome {strong(str(report.outcome or 'open'))}",
            f"activated at {t(report.activated_at_hours)}",
            (
                "still active at the end of the script (the exercise ended it)"
                if report.phase == "active"
                else f"closed at {t(report.closed_at_hours)}"
            ),
            f"escalation level {report.escalation_level}",
            f"sectors {', '.join(report.sectors)}" if len(report.sectors) > 1 else "",
            f"report received at {t(report.lead_hours)}",
            f"plan {report.plan_id} v{report.plan_version}",
            mode,
            f"workflow {code(report.workflow_id)}",
        ]
        if part
    )


def _summary_html(report: ExerciseReport) -> str:
    return _summary(
        report,
        lambda text: f"<b>{escape(text)}</b>",
        lambda text: f"<code>{escape(text)}</code>",
    )


def _summary_markdown(report: ExerciseReport) -> str:
    return _summary(report, lambda text: f"**{text}**", lambda text: f"`{text}`")


def report_html(report: ExerciseReport) -> str:
    chart = base64.b64encode(timeline_png(report)).decode()
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>After-action report: {escape(report.scenario)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<div class='banner'>EXERCISE — not a real incident</div>",
        f"<h1>After-action report: {escape(report.scenario)}</h1>",
        f"<p>{_summary_html(report)}</p>",
        f"<p class='{'met' if report.passed else 'missed'}'>"
        f"{'All expectations met' if report.passed else 'Expectations failed: ' + escape(', '.join(e.name for e in report.expectations if not e.met))}</p>",
        "<h2>Timeline</h2>",
        f"<img alt='Timeline chart: phases and plan steps against deadlines, injects and escalations' "
        f"src='data:image/png;base64,{chart}'>",
    ]
    for title, headers, rows, classes in _sections(report):
        parts.append(f"<h2>{escape(title)}</h2>")
        if title == STEPS_TITLE:
            parts.append(f"<p class='muted'>{escape(SLACK_NOTE)}</p>")
        parts.append(_table(headers, rows, classes) if rows else "<p class='muted'>None.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def report_markdown(report: ExerciseReport, chart_name: str | None) -> str:
    lines = [
        f"# After-action report: {report.scenario}",
        "",
        "> EXERCISE — not a real incident",
        "",
        _summary_markdown(report),
        "",
    ]
    lines.append(
        "All expectations met."
        if report.passed
        else "Expectations failed: "
        + ", ".join(e.name for e in report.expectations if not e.met)
        + "."
    )
    if chart_name:
        lines += ["", f"![Timeline]({chart_name})"]
    for title, headers, rows, _ in _sections(report):
        lines += ["", f"## {title}", ""]
        if title == STEPS_TITLE:
            lines += [SLACK_NOTE, ""]
        lines.append(_md_table(headers, rows) if rows else "None.")
    return "\n".join(lines) + "\n"


def write_report(report: ExerciseReport, path: Path) -> list[Path]:
    """Write ``path`` as HTML or Markdown by its suffix; returns every file written."""
    if path.suffix.lower() in (".html", ".htm"):
        path.write_text(report_html(report), encoding="utf-8")
        return [path]
    chart = path.with_suffix(".png")
    chart.write_bytes(timeline_png(report))
    path.write_text(report_markdown(report, chart.name), encoding="utf-8")
    return [path, chart]


# -- sweeps -----------------------------------------------------------------------------------


def _sweep_rows(summary: SweepSummary) -> list[tuple[str, list[str], list[list[str]]]]:
    p = summary.time_to_activation
    low, high = summary.p_activated_within_window_ci95
    figures = [
        ["Runs", str(summary.runs)],
        ["Seed", str(summary.seed)],
        [
            f"P(activation within {summary.window_hours:g} h)",
            percent(summary.p_activated_within_window),
        ],
        ["95% interval (Wilson)", f"{percent(low)}–{percent(high)}"],
        ["Not activated", str(summary.runs - p.count)],
        ["Runs meeting every expectation", percent(summary.expectations_met)],
        ["Most common hold-back (not activated)", summary.most_common_hold_back or "—"],
        [
            "Modes of the time to activation",
            ", ".join(t(m) for m in summary.time_to_activation_modes) or "—",
        ],
        ["Wall time", f"{summary.wall_seconds:.1f} s ({summary.engine})"],
    ]
    if summary.conformance is not None:
        c = summary.conformance
        figures.append(
            ["Conformance (runs identical through the workflow)", f"{c.identical} of {c.checked}"]
        )
    percentiles = [
        [name, t(getattr(p, name))]
        for name in ("min", "p10", "p25", "p50", "p75", "p90", "max", "mean")
    ]
    outcomes = [[k, str(v)] for k, v in summary.outcomes.items()]
    levels = [[f"level {k}", str(v)] for k, v in summary.escalation_levels.items()]
    held = [[k, str(v)] for k, v in summary.held_back.items()]
    last = [[k, str(v)] for k, v in summary.last_condition.items()]
    sensitivity = [
        [
            s.parameter,
            f"{s.effect:.1%}",
            "; ".join(f"{b.value}: {percent(b.p_activated)} of {b.runs}" for b in s.buckets),
        ]
        for s in summary.sensitivity
    ]
    mismatches = (
        [
            [str(m.run), m.field, repr(m.fast), repr(m.temporal)]
            for m in summary.conformance.mismatches
        ]
        if summary.conformance is not None
        else []
    )
    sections = [
        ("Summary", ["Figure", "Value"], figures),
        (
            "What drives activation (sensitivity, ranked by effect)",
            ["Drawn parameter", "Effect (best − worst P)", "P(activation) per value"],
            sensitivity,
        ),
        (
            f"Time to activation ({p.count} activated runs)",
            ["Percentile", "Hours after T0"],
            percentiles,
        ),
        ("Outcomes", ["Outcome", "Runs"], outcomes),
        ("Escalation level reached (highest per run)", ["Level", "Runs"], levels),
        (
            "What held activation back (runs not activated; first unmet condition in plan order)",
            ["Condition", "Runs"],
            held,
        ),
        ("Last condition met before activation (activated runs)", ["Condition", "Runs"], last),
    ]
    if mismatches:
        sections.insert(
            1,
            (
                "CONFORMANCE FAILED: runs that differ between the fast path and the workflow",
                ["Run", "Field", "Fast path", "Workflow"],
                mismatches,
            ),
        )
    return sections


def _histogram(summary: SweepSummary) -> bytes:
    times = [r.activated_at_hours for r in summary.results if r.activated_at_hours is not None]
    return activation_histogram_png(
        times, summary.window_hours, summary.scenario, headline(summary)
    )


def _tornado(summary: SweepSummary) -> bytes:
    rows = [
        (
            s.parameter,
            min(b.p_activated for b in s.buckets if b.value == s.low),
            max(b.p_activated for b in s.buckets if b.value == s.high),
            s.low,
            s.high,
        )
        for s in summary.sensitivity
    ]
    return tornado_png(rows, summary.p_activated_within_window, "What drives activation")


def _levels(summary: SweepSummary) -> bytes:
    return levels_png(summary.escalation_levels, "Escalation level reached (highest per run)")


def _charts(summary: SweepSummary) -> list[tuple[str, str, bytes]]:
    """(file suffix, alt text, PNG) of every chart of a sweep."""
    charts = [("", "Histogram of time to activation against the window", _histogram(summary))]
    if summary.sensitivity:
        charts.append(("-tornado", "Tornado chart of the sensitivity", _tornado(summary)))
    charts.append(("-levels", "Escalation levels reached", _levels(summary)))
    return charts


def _img(alt: str, png: bytes) -> str:
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _sweep_body(summary: SweepSummary, level: int = 1) -> list[str]:
    h = f"h{level}"
    parts = [
        f"<{h}>Sweep: {escape(summary.scenario)}</{h}>",
        f"<p><strong>{escape(headline(summary))}</strong></p>",
    ]
    if summary.multimodal:
        parts.append(f"<p class='banner'>{escape(multimodal_warning(summary))}</p>")
    if summary.conformance is not None and not summary.conformance.ok:
        parts.append(f"<p class='banner missed'>{escape(summary.conformance.describe())}</p>")
    parts += [_img(alt, png) for _, alt, png in _charts(summary)]
    for title, headers, rows in _sweep_rows(summary):
        parts += [
            f"<h{level + 1}>{escape(title)}</h{level + 1}>",
            _table(headers, rows) if rows else "<p class='muted'>None.</p>",
        ]
    return parts


def _page(title: str, body: list[str]) -> str:
    return "\n".join(
        [
            f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>",
            f"<style>{CSS}</style></head><body>",
            "<div class='banner'>EXERCISE — Monte Carlo sweep</div>",
            *body,
            "</body></html>",
        ]
    )


def sweep_html(summary: SweepSummary) -> str:
    return _page(f"Sweep: {summary.scenario}", _sweep_body(summary))


def _sweep_markdown(
    summary: SweepSummary, path: Path, level: int = 1
) -> tuple[list[str], list[Path]]:
    lines = [f"{'#' * level} Sweep: {summary.scenario}", "", f"**{headline(summary)}**"]
    if summary.multimodal:
        lines += ["", f"> **Warning:** {multimodal_warning(summary)}"]
    written = []
    for suffix, alt, png in _charts(summary):
        chart = path.with_name(f"{path.stem}{suffix}.png")
        chart.write_bytes(png)
        written.append(chart)
        lines += ["", f"![{alt}]({chart.name})"]
    for title, headers, rows in _sweep_rows(summary):
        lines += [
            "",
            f"{'#' * (level + 1)} {title}",
            "",
            _md_table(headers, rows) if rows else "None.",
        ]
    return lines, written


def write_sweep_report(summary: SweepSummary, path: Path) -> list[Path]:
    if path.suffix.lower() in (".html", ".htm"):
        path.write_text(sweep_html(summary), encoding="utf-8")
        return [path]
    lines, charts = _sweep_markdown(summary, path)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [path, *charts]


# -- two variants -------------------------------------------------------------------------------


def _difference_rows(comparison: VariantComparison) -> list[list[str]]:
    d = comparison.difference
    a, b = comparison.variants
    low, high = d.ci95
    return [
        ["A", a.scenario, percent(d.p_a)],
        ["B", b.scenario, percent(d.p_b)],
        [
            "B − A",
            "paired over the same runs",
            f"{d.difference:+.1%} (95% interval {low:+.1%} to {high:+.1%})",
        ],
        ["Activated in both", "", str(d.both)],
        ["Only in A", "", str(d.only_a)],
        ["Only in B", "", str(d.only_b)],
        ["In neither", "", str(d.neither)],
        ["Injects with common draws", "", ", ".join(comparison.shared_injects) or "none"],
    ]


DIFFERENCE_TITLE = "Difference in P(activation within the window), run for run"
DIFFERENCE_HEADERS = ["", "Variant", "P(activation)"]


def comparison_html(comparison: VariantComparison) -> str:
    a, b = comparison.variants
    d = comparison.difference
    body = [
        f"<h1>Variants: {escape(b.scenario)} against {escape(a.scenario)}</h1>",
        f"<p><strong>B − A: {d.difference:+.1%} (95% paired interval {d.ci95[0]:+.1%} to "
        f"{d.ci95[1]:+.1%}) over {d.runs} runs with common random numbers</strong></p>",
        f"<h2>{DIFFERENCE_TITLE}</h2>",
        _table(DIFFERENCE_HEADERS, _difference_rows(comparison)),
        "<div style='display:flex;gap:1em'>",
        *(f"<div style='flex:1;min-width:0'>{''.join(_sweep_body(s, 2))}</div>" for s in (a, b)),
        "</div>",
    ]
    return _page(f"Variants: {b.scenario} against {a.scenario}", body)


def write_comparison_report(comparison: VariantComparison, path: Path) -> list[Path]:
    if path.suffix.lower() in (".html", ".htm"):
        path.write_text(comparison_html(comparison), encoding="utf-8")
        return [path]
    a, b = comparison.variants
    lines = [
        f"# Variants: {b.scenario} against {a.scenario}",
        "",
        f"## {DIFFERENCE_TITLE}",
        "",
        _md_table(DIFFERENCE_HEADERS, _difference_rows(comparison)),
    ]
    written = [path]
    for name, summary in (("a", a), ("b", b)):
        more, charts = _sweep_markdown(summary, path.with_name(f"{path.stem}-{name}.md"), 2)
        lines += ["", *more]
        written += charts
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written
