"""A worker killed (SIGKILL) mid-plan, twice, and restarted: the incident completes on the real
dev server and the ledger holds each decision exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from db.models import Notification
from plans.loader import get_plan
from tests.workflows.support import assert_ledger_matches, kinds
from workflows.incident import IncidentWorkflow
from workflows.messages import (
    Action,
    Answer,
    CommitmentInput,
    DecisionInput,
    Evidence,
    Outcome,
    ViolationReport,
)
from workflows.starting import build_input, start_incident

ROOT = Path(__file__).resolve().parents[2]
# 72 plan hours in 120 real seconds: deadlines pass while workers die, with room on a busy
# 2-core machine for two restarts that each wait out the dead worker's workflow task (30 s at
# worst) and its notices' heartbeats; the incident activates long before the window closes.
TIME_SCALE = 72 * 3600 / 120


def spawn_worker(address: str, database_url: str, task_queue: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "DATABASE_URL": database_url,
        "CONTINGENCY_TASK_QUEUE": task_queue,
        "CONTINGENCY_LOG_FORMAT": "json",
        # Its own data directory: never a developer's contacts file, so nobody real is told.
        "CONTINGENCY_DATA_DIR": str(log.parent / "data"),
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")], env=env, cwd=ROOT,
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


async def test_worker_killed_mid_plan(dev_env, database_url, sessions, task_queue, tmp_path):
    client = dev_env.client
    address = client.service_client.config.target_host
    log = tmp_path / "worker.log"
    now = await dev_env.get_current_time()
    report = ViolationReport(
        report_id=f"crash-{uuid.uuid4().hex}", kind="large_scale_offensive", sector="kharkiv",
        reported_by="ua-general-staff", observed_at=now, reported_at=now,
        evidence=(Evidence("allied-isr", "satellite imagery"),),
    )  # fmt: skip
    incident = build_input(report, get_plan(), time_scale=TIME_SCALE)
    worker = spawn_worker(address, database_url, task_queue, log)
    try:
        handle = await start_incident(client, incident, task_queue, now=now)
        await handle.execute_update(
            IncidentWorkflow.submit_commitment,
            CommitmentInput(party="us", answer=Answer.COMMIT, assets=("air",), actor="ally:us"),
        )
        # Kill the worker while a commitment is being written to the ledger.
        pending = asyncio.create_task(
            handle.execute_update(
                IncidentWorkflow.submit_commitment,
                CommitmentInput(
                    party="uk", answer=Answer.COMMIT, assets=("naval",), actor="ally:uk"
                ),
            )
        )
        await asyncio.sleep(0.05)
        kill(worker)
        await asyncio.sleep(1.0)
        worker = spawn_worker(address, database_url, task_queue, log)
        await asyncio.wait_for(pending, timeout=30)

        # Let a deadline or two pass, then kill again in the middle of the plan.
        await asyncio.sleep(2.5)
        kill(worker)
        await asyncio.sleep(1.0)
        worker = spawn_worker(address, database_url, task_queue, log)
        await handle.execute_update(
            IncidentWorkflow.submit_commitment,
            CommitmentInput(party="fr", answer=Answer.COMMIT, assets=("ground",), actor="ally:fr"),
        )
        await handle.execute_update(
            IncidentWorkflow.submit_decision,
            DecisionInput(action=Action.AUTHORIZE, actor="nac-chair", rationale="quorum holds"),
        )
        await handle.execute_update(
            IncidentWorkflow.submit_decision,
            DecisionInput(action=Action.TERMINATE, actor="nac-chair", rationale="drill over"),
        )
        view = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=15)

    assert view.outcome is Outcome.ACTIVATED, log.read_text()[-3000:]
    rows = await assert_ledger_matches(sessions, view)
    decided = kinds(rows)
    assert (
        decided.count("commitment") == 3
        and decided.count("dispatched") == 3
        and decided[-3:] == ["activated", "terminate", "terminated"]
    )
    async with sessions() as session:
        per_step = (
            await session.execute(
                select(Notification.step, func.count(), func.min(Notification.status))
                .where(Notification.incident_id == view.incident_id)
                .group_by(Notification.step)
            )
        ).all()
    assert sorted(per_step) == [
        ("demarche", 1, "delivered"), ("sanctions_snapback", 1, "delivered"), ("unsc_session", 1, "delivered"),
    ]  # fmt: skip
    history = await handle.fetch_history()
    assert history.events, "history recorded"
    assert timedelta(hours=view.timeline[-1].t_plus_hours) <= timedelta(hours=72)
