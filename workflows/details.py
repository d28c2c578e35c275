"""The Markdown an operator reads in the Temporal Web UI's "current details" pane."""

from __future__ import annotations

from workflows.clock import format_offset
from workflows.messages import DeadlineStatus, IncidentView

_STATUS = {
    DeadlineStatus.PENDING: "⏳ pending",
    DeadlineStatus.MET: "✅ met",
    DeadlineStatus.MISSED: "❌ missed",
    DeadlineStatus.MOOT: "— closed before due",
    DeadlineStatus.NOT_APPLICABLE: "n/a",
}


def _utc(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def current_details(view: IncidentView) -> str:
    outcome = f" → **{view.outcome}**" if view.outcome else ""
    lines = [f"**LEDGER BLOCKED**: {view.ledger_problem}", ""] if view.ledger_problem else []
    for awaited in view.awaiting_ack:
        repeats = f", repeated {awaited.repeats}×" if awaited.repeats else ""
        lines += [
            f"**AWAITING ACKNOWLEDGEMENT**: escalation to level {awaited.level} "
            f"({awaited.authority}) sent {_utc(awaited.first_sent_at)}{repeats} · "
            f"notice `{awaited.notice_id}`",
            "",
        ]
    if view.undelivered:
        lines += [f"**UNDELIVERED**: {view.undelivered} recipient(s) could not be reached", ""]
    lines += [
        f"**{view.kind}** in {view.sector} · phase **{view.phase}**{outcome} · "
        f"escalation level **{view.escalation_level}** ({view.escalation_authority})",
        "",
        f"T0 {_utc(view.t0)} · window closes {_utc(view.window_closes_at)}"
        + (" · EXERCISE" if view.exercise else "")
        + (f" · run {view.run} (continued as new; ledger and chain go on)" if view.run > 1 else ""),
        "",
    ]
    if view.activated_at is not None:
        lines += [_after_activation(view), ""]
    lines += [
        "| Deadline | Due | Status |",
        "| --- | --- | --- |",
    ]
    for deadline in view.deadlines:
        if deadline.status is DeadlineStatus.NOT_APPLICABLE:
            continue
        lines.append(
            f"| {deadline.title} | {format_offset(deadline.due_hours)} · {_utc(deadline.due_at)} "
            f"| {_STATUS[deadline.status]} |"
        )
    if view.schedule:
        upcoming = view.schedule[0]
        lines += ["", f"Next: **{upcoming.title}** · {_utc(upcoming.due_at)}"]
    quorum = view.quorum
    if quorum.applies:
        lines += [
            "",
            f"Quorum: {len(quorum.committed)}/{quorum.min_committed} committed"
            + (f" ({', '.join(quorum.committed)})" if quorum.committed else "")
            + (f", missing {', '.join(quorum.missing_assets)}" if quorum.missing_assets else "")
            + (" ✅" if quorum.holds else ""),
        ]
    return "\n".join(lines)


def _after_activation(view: IncidentView) -> str:
    """Activated at, and until when: still active (with its next review) or terminated."""
    line = f"Activated {_utc(view.activated_at)}"
    if view.closed_at is not None and view.termination_rationale:
        return line + f" · terminated {_utc(view.closed_at)}: {view.termination_rationale}"
    if view.closed_at is None:
        line += " · **active**"
        if view.next_review_at is not None:
            line += f" · next review {_utc(view.next_review_at)}"
        if view.reviews_missed:
            line += f" · **{view.reviews_missed} review(s) missed**"
        if view.force_holds is False:
            line += " · **forces no longer make the quorum**"
        forces = [
            f"{d.party}: {', '.join(a for a in d.committed if a not in d.withdrawn) or 'withdrawn'}"
            for d in view.deployments
        ]
        if forces:
            line += " · forces " + "; ".join(forces)
    return line
