"""The board's rows say what the incident's own plan says (api/board_view.py): its window, its
next deadline, and a quorum only for a kind that consults the allies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from api.board_view import Board, _apply_live, _row
from api.routers.board import render
from db.models import Incident
from db.repository import row_values
from foundation.settings import Settings
from plans.loader import get_plan
from workflows.details import current_details
from workflows.messages import EvidenceInput, IncidentInput, ViolationReport
from workflows.state import IncidentState

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


@dataclass
class _Context:
    settings: Settings


def board_row(plan_id: str, kind: str, *, hours: float = 1, sources: tuple[str, ...] = ()):
    report = ViolationReport("r-board", kind, "narva", "ee-defence", observed_at=T0, reported_at=T0)
    state = IncidentState(IncidentInput(f"narva-{kind}", report, get_plan(plan_id)), T0)
    for source in sources:
        state.receive(T0, lambda s, now, source=source: s.add_evidence(EvidenceInput(source), now))
    now = T0 + timedelta(hours=hours)
    incident = Incident(**row_values(state.snapshot()))
    row = _row(_Context(Settings()), incident, now)  # type: ignore[arg-type]
    read_side = (row.window.label, row.next_deadline.label if row.next_deadline else None)
    _apply_live(row, state.view(), now)
    return row, read_side


def test_a_regional_plan_incident_shows_its_own_window_and_no_quorum():
    row, read_side = board_row("regional-48h", "border_provocation")
    assert read_side == ("Response window closes T0+48h", "Verification deadline T0+6h")
    assert row.window.label == "Response window closes T0+48h"
    assert row.committed is None  # a border provocation consults nobody
    html = render("board_rows.html", board=Board(exercise=False, as_of=T0, rows=[row])).body
    text = html.decode()
    assert "T0+48h" in text and "T0+72h" not in text and "committed" not in text


def test_a_consulting_kind_shows_its_quorum_and_the_next_check():
    row, _ = board_row("regional-48h", "armed_incursion", sources=("lv-army", "lt-army"), hours=2)
    assert row.window.label == "Activation window closes T0+48h"
    assert (row.committed, row.quorum_needed, row.missing_assets) == (0, 2, ("air",))
    assert row.next_deadline is not None
    assert row.next_deadline.label == "Allied consultation quorum deadline T0+12h"


def test_a_blocked_ledger_is_on_the_board_and_in_the_details():
    report = ViolationReport("r-board", "ceasefire_breach", "narva", "ee-defence", observed_at=T0)
    state = IncidentState(IncidentInput("narva-blocked", report, get_plan()), T0)
    incident = Incident(**row_values(state.snapshot()))
    row = _row(_Context(Settings()), incident, T0)  # type: ignore[arg-type]
    problem = "decision 1 refused by the database: value too long <b>"
    view = state.view(0, ledger_problem=problem)
    _apply_live(row, view, T0)
    html = render("board_rows.html", board=Board(exercise=False, as_of=T0, rows=[row])).body
    assert "LEDGER BLOCKED: decision 1 refused by the database: value too long &lt;b&gt;" in (
        html.decode()
    )
    assert current_details(view).startswith(f"**LEDGER BLOCKED**: {problem}\n")
    assert "LEDGER BLOCKED" not in current_details(state.view())
