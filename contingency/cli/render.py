"""Readable tables for people, JSON for scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()


def emit_json(data: Any) -> None:
    # Plain print: rich would wrap long lines and break the JSON for `jq`.
    print(json.dumps(data, indent=2, ensure_ascii=False))


def when(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    minutes = int(abs(seconds) // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours}h{minutes:02d}m"


def accepted(data: dict[str, Any]) -> None:
    if data.get("joined"):
        verb = "Joined" if data["created"] else "Already joined:"
        console.print(
            f"{verb} incident [bold]{data['incident_id']}[/bold]: report {data['report_id']}, "
            f"sectors {', '.join(data.get('sectors') or [])}"
        )
        console.print(f"  T0 {when(data['observed_at'])} (the earliest violation observed)")
        return
    verb = "Opened" if data["created"] else "Already open:"
    console.print(
        f"{verb} incident [bold]{data['incident_id']}[/bold] ({data['kind']}, plan {data['plan_id']})"
    )
    console.print(
        f"  T0 {when(data['observed_at'])}; activation deadline {when(data['activation_deadline'])}"
    )
    if data.get("window_closed"):
        console.print(
            f"  [yellow]the response window had closed before the report: closed at intake "
            f"({data.get('outcome')}), nothing dispatched[/yellow]"
        )


def receipt(data: dict[str, Any]) -> None:
    outcome = f", outcome [bold]{data['outcome']}[/bold]" if data.get("outcome") else ""
    console.print(f"{data['message']}: recorded {', '.join(data['decisions'])} (seq {data['seq']})")
    console.print(f"  phase {data['phase']}, escalation level {data['escalation_level']}{outcome}")


def incident(data: dict[str, Any]) -> None:
    outcome = data["outcome"] or "open"
    if data.get("ledger_problem"):
        console.print(f"[bold red]LEDGER BLOCKED: {escape(data['ledger_problem'])}[/bold red]")
    for awaited in data.get("awaiting_ack") or ():
        repeats = f", repeated {awaited['repeats']}x" if awaited.get("repeats") else ""
        console.print(
            f"[bold yellow]AWAITING ACKNOWLEDGEMENT[/bold yellow]: level {awaited['level']} "
            f"({escape(awaited['authority'])}){repeats} · "
            f"contingency ack {escape(data['incident_id'])} {escape(awaited['notice_id'])}"
        )
    if data.get("undelivered"):
        console.print(f"[bold red]UNDELIVERED[/bold red]: {data['undelivered']} recipient(s)")
    sectors = ", ".join(data.get("sectors") or [data["sector"]])
    reports = f", {data['reports']} reports" if data.get("reports", 1) > 1 else ""
    console.print(
        f"[bold]{data['incident_id']}[/bold]  {data['kind']} in {sectors}{reports}  "
        f"({'EXERCISE, ' if data['exercise'] else ''}plan {data['plan_id']} v{data['plan_version']})"
    )
    console.print(
        f"  phase {data['phase']} · awaiting {data['awaiting']} · {outcome} · "
        f"escalation {data['escalation_level']} ({data['escalation_authority']}) · verification {data['verification']}"
    )
    console.print(
        f"  T0 {when(data['t0'])} · reported {when(data['reported_at'])} · window closes {when(data['window_closes_at'])}"
    )
    deadlines = Table(
        "deadline", "due", "T0+", "status", "time left", title="Deadlines", title_justify="left"
    )
    for d in data["deadlines"]:
        deadlines.add_row(
            d["title"],
            when(d["due_at"]),
            f"{d['due_hours']:g}h",
            d["status"],
            duration(d["seconds_left"]),
        )
    console.print(deadlines)
    if data.get("next_deadline"):
        console.print(f"  next: {next_deadline(data['next_deadline'])}")
    quorum = data["quorum"]
    if quorum.get("applies", True):
        console.print(
            f"  quorum {'holds' if quorum['holds'] else 'not reached'}: committed {', '.join(quorum['committed']) or 'none'}"
            f" (need {quorum['min_committed']}, assets {', '.join(quorum['required_assets'])})"
            + (f"; declined {', '.join(quorum['declined'])}" if quorum["declined"] else "")
        )
    if data.get("merged_into"):
        console.print(
            f"  merged into [bold]{escape(data['merged_into'])}[/bold], which carries the response on"
        )
    if data.get("merging_into"):
        console.print(f"  [bold yellow]merging into {escape(data['merging_into'])}[/bold yellow]")
    if data.get("merged_from"):
        console.print(f"  absorbed {escape(', '.join(data['merged_from']))}")
    if data.get("activated_at"):
        active(data)
    timeline(data["timeline"], "Timeline")


def active(data: dict[str, Any]) -> None:
    """The response's life after activation: until when, its forces, its next review."""
    ended = (
        f"terminated {when(data['closed_at'])}: {escape(data.get('termination_rationale') or '')}"
        if data.get("closed_at")
        else "still active"
    )
    console.print(f"  activated {when(data['activated_at'])} · {ended}")
    if data.get("next_review_at"):
        missed = data.get("reviews_missed") or 0
        console.print(
            f"  next review due {when(data['next_review_at'])}"
            + (f" · [bold red]{missed} review(s) missed[/bold red]" if missed else "")
        )
    if data.get("force_holds") is False:
        console.print("  [bold red]the committed forces no longer make the quorum[/bold red]")
    rows = data.get("deployments") or ()
    if rows:
        forces = Table(
            "party",
            "committed",
            "deployed",
            "withdrawn",
            "since",
            title="Forces",
            title_justify="left",
        )
        for d in rows:
            forces.add_row(
                d["party"],
                ", ".join(d["committed"]),
                ", ".join(d["deployed"]) or "-",
                ", ".join(d["withdrawn"]) or "-",
                when(d["at"]),
            )
        console.print(forces)


def related(data: dict[str, Any]) -> None:
    if data["within_hours"] is None:
        console.print(f"plan {data['plan_id']} suggests no related incidents")
        return
    if not data["related"]:
        console.print(
            f"no open incident of plan {data['plan_id']} observed within "
            f"{data['within_hours']:g} h of {data['incident_id']}"
        )
        return
    table = Table(
        "incident", "sector", "kind", "reported by", "T0", "apart", "phase", "plan",
        title=f"Observed within {data['within_hours']:g} h of {data['incident_id']} (suggested)",
        title_justify="left",
    )  # fmt: skip
    for row in data["related"]:
        table.add_row(
            row["incident_id"],
            row["sector"],
            row["kind"],
            row["reported_by"],
            when(row["t0"]),
            f"{row['t0_apart_hours']:+g}h",
            row["phase"],
            f"v{row['plan_version']}" + ("" if row["same_plan_version"] else " (other version)"),
        )
    console.print(table)


def timeline(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(
        "seq",
        "T0+",
        "at",
        "kind",
        "decided",
        "actor",
        "rationale",
        title=title,
        title_justify="left",
    )
    for row in rows:
        table.add_row(
            str(row["seq"]),
            f"{row['t_plus_hours']:.2f}h",
            when(row.get("at") or row.get("occurred_at")),
            row["kind"],
            row.get("detail", ""),
            row["actor"],
            row["rationale"],
        )
    console.print(table)


def incidents(data: dict[str, Any]) -> None:
    table = Table("incident", "kind", "sector", "phase", "outcome", "level", "T0", "next deadline")
    for row in data["incidents"]:
        table.add_row(
            row["incident_id"],
            row["kind"],
            row["sector"],
            row["phase"],
            row["outcome"] or "-",
            str(row["escalation_level"]),
            when(row["t0"]),
            next_deadline(row.get("next_deadline")),
        )
    console.print(table)
    if data.get("next_offset") is not None:
        console.print(f"more: --offset {data['next_offset']}")


def next_deadline(entry: dict[str, Any] | None) -> str:
    return "-" if not entry else f"{when(entry['due_at'])} {entry['title']}"


def ledger(data: dict[str, Any]) -> None:
    timeline(data["decisions"], f"Ledger of {data['incident_id']}")
    verdict = data["chain"]
    # The audit's own line (db.audit), so the CLI and every other view say the same.
    line = escape(f"ledger {verdict['summary']}")
    console.print(line if verdict["intact"] else f"[red]{line}[/red]")
