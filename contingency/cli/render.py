"""Readable tables for people, JSON for scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
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
    verb = "Opened" if data["created"] else "Already open:"
    console.print(
        f"{verb} incident [bold]{data['incident_id']}[/bold] ({data['kind']}, plan {data['plan_id']})"
    )
    console.print(
        f"  T0 {when(data['observed_at'])}; activation deadline {when(data['activation_deadline'])}"
    )


def receipt(data: dict[str, Any]) -> None:
    outcome = f", outcome [bold]{data['outcome']}[/bold]" if data.get("outcome") else ""
    console.print(f"{data['message']}: recorded {', '.join(data['decisions'])} (seq {data['seq']})")
    console.print(f"  phase {data['phase']}, escalation level {data['escalation_level']}{outcome}")


def incident(data: dict[str, Any]) -> None:
    outcome = data["outcome"] or "open"
    console.print(
        f"[bold]{data['incident_id']}[/bold]  {data['kind']} in {data['sector']}  "
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
    quorum = data["quorum"]
    console.print(
        f"  quorum {'holds' if quorum['holds'] else 'not reached'}: committed {', '.join(quorum['committed']) or 'none'}"
        f" (need {quorum['min_committed']}, assets {', '.join(quorum['required_assets'])})"
        + (f"; declined {', '.join(quorum['declined'])}" if quorum["declined"] else "")
    )
    timeline(data["timeline"], "Timeline")


def timeline(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(
        "seq", "T0+", "at", "kind", "actor", "rationale", title=title, title_justify="left"
    )
    for row in rows:
        table.add_row(
            str(row["seq"]),
            f"{row['t_plus_hours']:.2f}h",
            when(row.get("at") or row.get("occurred_at")),
            row["kind"],
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
            when(row["observed_at"]),
            when(row["next_deadline_at"]),
        )
    console.print(table)
    if data.get("next_offset") is not None:
        console.print(f"more: --offset {data['next_offset']}")


def ledger(data: dict[str, Any]) -> None:
    timeline(data["decisions"], f"Ledger of {data['incident_id']}")
    chain = data["chain"]
    if chain["intact"]:
        console.print("hash chain intact")
    else:
        console.print(
            f"[red]hash chain broken at seq {chain['broken_at_seq']}: {chain['problem']}[/red]"
        )
