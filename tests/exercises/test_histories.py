"""Recorded histories of every plan path replay against the current workflow code; a change
that would break incidents in flight fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from contingency.cli.main import app as cli_app
from exercises.histories import HISTORIES_DIR, SCENARIOS_DIR, export_history, replay_file
from exercises.runner import run_time_skipping
from exercises.scenario import load_scenario

HISTORIES = sorted(HISTORIES_DIR.glob("*.json"))
# Histories recorded by every past version of the workflow, one folder per version, all replayed.
EVERY_HISTORY = sorted(HISTORIES_DIR.rglob("*.json"))


def test_every_scenario_has_a_recorded_history() -> None:
    assert {p.stem for p in HISTORIES} >= {p.stem for p in SCENARIOS_DIR.glob("*.yaml")}


@pytest.mark.parametrize(
    "path",
    EVERY_HISTORY,
    ids=[str(p.relative_to(HISTORIES_DIR).with_suffix("")) for p in EVERY_HISTORY],
)
async def test_history_replays_deterministically(path: Path) -> None:
    outcome = await replay_file(path)
    assert outcome.deterministic, outcome.failure
    assert outcome.events > 10


def _tampered(tmp_path: Path) -> Path:
    """The full-activation history as if the workflow had once called another activity first."""
    data = json.loads((HISTORIES_DIR / "full-activation.json").read_text())
    for event in data["events"]:
        attributes = event.get("activityTaskScheduledEventAttributes")
        if attributes:
            attributes["activityType"]["name"] = "send_carrier_pigeon"
            break
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(data))
    return path


async def test_a_changed_workflow_is_caught(tmp_path: Path) -> None:
    outcome = await replay_file(_tampered(tmp_path))
    assert not outcome.deterministic
    assert (
        "Nondeterminism" in (outcome.failure or "")
        or "nondetermin" in (outcome.failure or "").lower()
    )


def test_replay_command_exit_codes(tmp_path: Path) -> None:
    ok = CliRunner().invoke(cli_app, ["replay", str(HISTORIES_DIR / "stand-down.json")])
    assert ok.exit_code == 0, ok.output
    assert "deterministic" in ok.output
    bad = CliRunner().invoke(cli_app, ["replay", str(_tampered(tmp_path))])
    assert bad.exit_code == 1 and "NOT deterministic" in bad.output


async def test_exported_history_replays(
    ts_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    report = await run_time_skipping(
        load_scenario(SCENARIOS_DIR / "reclassify.yaml"), env=ts_env, database_url=sqlite_url
    )
    workflow_id, text = await export_history(ts_env.client, report.incident_id)
    assert workflow_id == report.workflow_id
    path = tmp_path / f"{workflow_id}.json"
    path.write_text(text)
    outcome = await replay_file(path)
    assert outcome.deterministic, outcome.failure
