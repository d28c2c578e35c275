"""The cell's journal in the state machine: a note is a ledger row that no rule reads."""

from __future__ import annotations

import copy

import pytest

from tests.workflows.test_state import at, commit, incident
from workflows.messages import NoteInput, NoteKind
from workflows.state import Rejected


def _facts(state):
    view = state.view(state.seq)
    return (view.phase, view.deadlines, view.schedule, view.escalation_level, view.outcome)


def test_a_note_is_recorded_and_changes_no_rule():
    state = incident()
    commit(state, "us", "air", hours=2)
    twin = copy.deepcopy(state)
    state.receive(
        at(5), lambda s, now: s.add_note(NoteInput("radar picture unclear", "cell-lead"), now)
    )
    state.receive(
        at(8),
        lambda s, now: s.add_note(
            NoteInput("night shift takes over; UK call pending", "cell-lead", NoteKind.HANDOVER),
            now,
        ),
    )
    twin.advance(at(8))
    notes = [d for d in state.decisions if d.kind == "note"]
    assert [(d.rationale, d.actor, d.payload["note"]) for d in notes] == [
        ("radar picture unclear", "cell-lead", "note"),
        ("night shift takes over; UK call pending", "cell-lead", "handover"),
    ]
    assert [round(d.t_plus_hours, 2) for d in notes] == [5.0, 8.0]
    assert _facts(state) == _facts(twin)
    assert [d.kind for d in state.decisions if d.kind != "note"] == [d.kind for d in twin.decisions]


@pytest.mark.parametrize(
    ("note", "field"),
    [
        (NoteInput("   ", "cell-lead"), "text"),
        (NoteInput("fine", " "), "actor"),
        (NoteInput("bell\x07", "cell-lead"), "text"),
        (NoteInput("x" * 4001, "cell-lead"), "text"),
    ],
)
def test_a_bad_note_is_refused_naming_the_field(note: NoteInput, field: str):
    state = incident()
    before = state.seq
    with pytest.raises(Rejected) as refused:
        state.check_note(note)
    assert refused.value.field == field
    assert state.seq == before


def test_a_closed_incident_takes_no_note():
    state = incident()
    state.advance(at(200))
    assert not state.is_open
    with pytest.raises(Rejected) as refused:
        state.check_note(NoteInput("too late", "cell-lead"))
    assert refused.value.conflict
