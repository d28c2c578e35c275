"""Live mode: the same scenario against the real dev server on a compressed plan clock
(×36000: the 72-hour window takes 7.2 seconds)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from contingency.cli.main import app as cli_app
from db.models import Incident
from db.session import create_engine, session_factory
from exercises.runner import run_live
from exercises.scenario import load_scenario
from workflows import search_attributes as sa

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SPEED = 36000


async def test_live_run_keeps_plan_time_on_a_compressed_clock(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    # Timer-driven: escalations at T0+24/48/60h and the window closing at T0+72h, in ~7 s.
    scenario = load_scenario(SCENARIOS / "quorum-never-reached.yaml")
    task_queue = f"exercise-live-{uuid.uuid4().hex[:8]}"
    report = await run_live(
        scenario, speed=SPEED, client=dev_env.client, task_queue=task_queue, database_url=sqlite_url
    )
    assert report.mode == "live" and report.time_scale == SPEED
    assert [e for e in report.expectations if not e.met] == []
    assert report.outcome == "not_activated"
    # Deadlines fire on the workflow's own compressed timers. A timer fires some milliseconds
    # late on a real server, and each real millisecond is 10 plan-seconds at x36000: on a busy
    # 2-core machine a few hundred milliseconds late is seen, hence plan hours of slack.
    assert [e.level for e in report.escalations] == [2, 3, 3]
    assert [e.at_hours for e in report.escalations] == pytest.approx([24, 48, 60], abs=4)
    assert report.closed_at_hours == pytest.approx(72, abs=4)
    assert 6.5 < report.wall_seconds < 30

    description = await dev_env.client.get_workflow_handle(report.workflow_id).describe()
    assert description.task_queue == task_queue
    assert description.typed_search_attributes[sa.EXERCISE] is True
    engine = create_engine(sqlite_url)
    try:
        async with session_factory(engine)() as session:
            incident = await session.get(Incident, report.incident_id)
            assert (
                incident is not None and incident.exercise and incident.outcome == "not_activated"
            )
    finally:
        await engine.dispose()


async def test_live_cli_against_a_given_server(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    args = [
        "exercise",
        "run",
        str(SCENARIOS / "authorize-before-quorum.yaml"),
        "--live",
        "--speed",
        str(SPEED),
        "--task-queue",
        f"exercise-cli-{uuid.uuid4().hex[:8]}",
        "--json",
    ]
    result = await asyncio.to_thread(
        CliRunner().invoke, cli_app, args, env={"TEMPORAL_ADDRESS": address}
    )
    assert result.exit_code == 0, result.output
    assert f"Live exercise on {address}" in result.output
    assert '"mode": "live"' in result.output and '"outcome": "activated"' in result.output


async def test_live_json_on_its_own_dev_server_is_only_json(tmp_path: Path) -> None:
    """Without TEMPORAL_ADDRESS the command starts a dev server of its own, whose banner must not
    reach stdout: a planner's script parses it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TEMPORAL_ADDRESS", "CONTINGENCY_TEMPORAL_ADDRESS")
    }
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "contingency"), "exercise", "run",
        str(SCENARIOS / "authorize-before-quorum.yaml"), "--live", "--speed", str(SPEED), "--json",
        env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    report = json.loads(stdout)
    assert report["mode"] == "live" and report["outcome"] == "activated"
    assert "Started a dev server" in stderr.decode()
