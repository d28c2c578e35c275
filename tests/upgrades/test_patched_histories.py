"""Both sides of every ``workflow.patched(...)`` are replayed: for each patch id the workflow
declares, the recorded histories include incidents started before it (no marker: the old code
path, replayed by the new code) and after it (the marker: the new path), and all of them replay
deterministically. A patch without histories on both sides fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from exercises.histories import HISTORIES_DIR, load_history, replay_file

WORKFLOW_SOURCE = Path(__file__).resolve().parents[2] / "workflows" / "incident.py"
PATCH_IDS = sorted(
    set(re.findall(r'^PATCH_\w+ = "([^"]+)"', WORKFLOW_SOURCE.read_text(), re.MULTILINE))
)
HISTORIES = sorted(HISTORIES_DIR.rglob("*.json"))


def patches_in(path: Path) -> set[str]:
    """The patch ids whose marker the recorded history carries."""
    found = set()
    for event in load_history(path).events:
        if event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_patch":
                for payload in marker.details["patch-data"].payloads:
                    found.add(json.loads(payload.data)["id"])
    return found


def test_the_workflow_declares_its_patches():
    assert PATCH_IDS, "no PATCH_* id found in workflows/incident.py"
    assert "evidence-verifies-presumption" in PATCH_IDS


@pytest.mark.parametrize("patch", PATCH_IDS)
def test_histories_on_both_sides_of_the_patch(patch: str):
    """Every recorded history replays once, in tests/exercises/test_histories.py; here, each
    patch has histories on both sides of it among them."""
    before = [p for p in HISTORIES if patch not in patches_in(p)]
    after = [p for p in HISTORIES if patch in patches_in(p)]
    assert before, f"no recorded history predates {patch!r}: the old code path is not replayed"
    assert after, f"no recorded history carries {patch!r}: the new code path is not replayed"


def ledger_kinds(path: Path) -> list[str]:
    """The decisions the recorded workflow sent to the ledger, in order."""
    kinds = []
    for event in load_history(path).events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == "record_decisions":
                batch = json.loads(scheduled.input.payloads[0].data)
                kinds += [d["kind"] for d in batch["decisions"]]
    return kinds


async def test_the_new_rule_shows_only_in_histories_recorded_after_it():
    """late-report: independent evidence arrives after the plan proceeded on presumption. Before
    the patch it is logged only; after it, it verifies the violation."""
    old = HISTORIES_DIR / "v1-before-evidence-verifies-presumption" / "late-report.json"
    new = HISTORIES_DIR / "late-report.json"
    assert "evidence-verifies-presumption" not in patches_in(old)
    assert "evidence-verifies-presumption" in patches_in(new)
    old_kinds, new_kinds = ledger_kinds(old), ledger_kinds(new)
    assert "presumed" in old_kinds and "verified" not in old_kinds
    assert new_kinds.index("presumed") < new_kinds.index("verified")
    for path in (old, new):
        assert (await replay_file(path)).deterministic


async def test_verdicts_at_the_due_instant_show_only_in_histories_recorded_after_them():
    """late-report-with-sources: the report arrives at T0+38h with its second source. Before the
    patch it verified the violation first and the verification deadline counted as met; after
    it, that deadline is missed (its escalation fires), and the report's sources verify late."""
    old = HISTORIES_DIR / "v3-before-deadlines-judged-at-due" / "late-report-with-sources.json"
    new = HISTORIES_DIR / "late-report-with-sources.json"
    assert "deadlines-judged-at-due" not in patches_in(old)
    assert "deadlines-judged-at-due" in patches_in(new)
    old_kinds, new_kinds = ledger_kinds(old), ledger_kinds(new)
    assert old_kinds[:3] == ["reported", "evidence_accepted", "verified"]
    assert new_kinds[:5] == ["reported", "lapsed", "escalated", "lapsed", "escalated"]
    assert new_kinds.index("verified") > new_kinds.index("lapsed") and "presumed" not in new_kinds
    # An inject at the verification deadline itself: closed unverified before, on time after.
    old = HISTORIES_DIR / "v3-before-deadlines-judged-at-due" / "evidence-at-the-deadline.json"
    new = HISTORIES_DIR / "evidence-at-the-deadline.json"
    assert ledger_kinds(old)[-1] == "unverified_closed"
    outcomes = [k for k in ledger_kinds(new) if k not in ("notified", "delivery_failed")]
    assert outcomes[-1] == "diplomatic_response"
    for path in (old, new):
        assert (await replay_file(path)).deterministic, path


def timers_cancelled(path: Path) -> int:
    return sum(
        1
        for event in load_history(path).events
        if event.HasField("timer_canceled_event_attributes")
    )


def test_incidents_started_after_timers_run_out_cancel_no_timer():
    """The time-skipping server strands a task that cancels a timer fired meanwhile
    (sdk-java#3088): since the patch, no recorded incident cancels one, the hand-over's waits
    included; before it, most cancelled their last timer at the close."""
    after = [p for p in HISTORIES if "timers-run-out" in patches_in(p)]
    before = [p for p in HISTORIES if "timers-run-out" not in patches_in(p)]
    assert any(p.parent.name == "continued" for p in after), "no hand-over recorded after the patch"
    assert {p.name: timers_cancelled(p) for p in after if timers_cancelled(p)} == {}
    assert sum(timers_cancelled(p) for p in before) > 0


async def test_an_activated_response_lives_on_only_in_histories_recorded_after_it():
    """full-activation: before the after-activation patch the incident closed at activation;
    after it, the response stays open until the exercise terminates it after the last inject."""
    old = HISTORIES_DIR / "v8-before-after-activation" / "full-activation.json"
    new = HISTORIES_DIR / "full-activation.json"
    assert "after-activation" not in patches_in(old)
    assert "after-activation" in patches_in(new)
    decided = {
        path: [k for k in ledger_kinds(path) if k not in ("notified", "delivery_failed")]
        for path in (old, new)
    }
    assert decided[old][-1] == "activated"
    assert decided[new][-3:] == ["activated", "terminate", "terminated"]
    active = HISTORIES_DIR / "active-response.json"
    assert {"deployed", "withdrawn", "quorum_lost", "review"} <= set(ledger_kinds(active))
    for path in (old, new, active):
        assert (await replay_file(path)).deterministic, path


async def test_a_merge_replays_on_both_sides_of_it():
    """merged-incident: the absorbing incident's history (T0 moved, the past deadlines fired at
    once, T0 corrected) and the absorbed incident's (the merge, the handover activity, closed
    merged) both carry the merging marker and replay; the histories recorded before it do not
    carry it and replay too (tests/exercises/test_histories.py)."""
    survivor = HISTORIES_DIR / "merged-incident.json"
    absorbed = HISTORIES_DIR / "merged-incident.absorbed-1.json"
    assert "merging" in patches_in(survivor) and "merging" in patches_in(absorbed)
    before = HISTORIES_DIR / "v8-before-timer-moment" / "three-sectors.json"
    assert "merging" not in patches_in(before) and (await replay_file(before)).deterministic
    kinds = ledger_kinds(survivor)
    assert kinds[kinds.index("absorbed") + 1] == "lapsed"
    assert "correct_t0" in kinds
    theirs = [k for k in ledger_kinds(absorbed) if k not in ("notified", "delivery_failed")]
    # Presumed at intake (observed 26 h before), so its steps went out before the merge.
    assert theirs[-1] == "merged" and "merge" in theirs and "presumed" in theirs
    handover = [
        e
        for e in load_history(absorbed).events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "hand_over_incident"
    ]
    assert len(handover) == 1
    for path in (survivor, absorbed):
        assert (await replay_file(path)).deterministic, path
