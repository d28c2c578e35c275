"""A worker SIGKILLed while a notice is half sent (slow receivers, messages in flight) and a
new one started: every recipient still has exactly one distinct message, and what arrived twice
arrived under the same X-Contingency-Key, which the receiver drops."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from plans.loader import get_plan
from tests.receivers import WEBHOOK_SECRET
from workflows.incident import IncidentWorkflow
from workflows.messages import Action, DecisionInput, Outcome, ViolationReport
from workflows.starting import build_input, start_incident

ROOT = Path(__file__).resolve().parents[2]
PARTIES = get_plan().parties


def spawn_worker(address: str, database_url: str, task_queue: str, data_dir: Path, log: Path):
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "DATABASE_URL": database_url,
        "CONTINGENCY_TASK_QUEUE": task_queue,
        "CONTINGENCY_DATA_DIR": str(data_dir),
        "CONTINGENCY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CONTINGENCY_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")], env=env, cwd=ROOT,
        stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


async def test_a_worker_killed_mid_send_leaves_one_message_per_recipient(
    dev_env, database_url, task_queue, tmp_path, http_receiver
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    lines = ["audiences:"]
    for party in PARTIES:  # half by JSON, half by the signed webhook; every one slow to answer
        url = (
            http_receiver.json_url(f"/{party}")
            if PARTIES.index(party) % 2
            else http_receiver.webhook_url(f"/{party}")
        )
        lines += [f"  party:{party}:", f'    - "{url}"']
        http_receiver.delay[f"/{party}"] = 1.5
    (data_dir / "contacts.yaml").write_text("\n".join(lines) + "\n")
    log = tmp_path / "worker.log"
    address = dev_env.client.service_client.config.target_host
    now = await dev_env.get_current_time()
    report = ViolationReport(
        report_id=f"kill-{uuid.uuid4().hex}", kind="large_scale_offensive", sector="sumy",
        reported_by="ua-general-staff", observed_at=now, reported_at=now,
    )  # fmt: skip
    worker = spawn_worker(address, database_url, task_queue, data_dir, log)
    try:
        handle = await start_incident(
            dev_env.client, build_input(report, get_plan()), task_queue, now=now
        )
        for _ in range(600):  # until the first messages are in flight
            if len(http_receiver.received) >= 3:
                break
            await asyncio.sleep(0.05)
        assert http_receiver.received, log.read_text()[-3000:]
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        in_flight = http_receiver.distinct
        assert in_flight < len(PARTIES), "the notice was not half sent when the worker died"

        worker = spawn_worker(address, database_url, task_queue, data_dir, log)
        for _ in range(900):  # the heartbeat timeout notices the dead worker; then a new attempt
            if http_receiver.distinct >= len(PARTIES):
                break
            await asyncio.sleep(0.05)
        view = await handle.query(IncidentWorkflow.state)
        await handle.execute_update(
            IncidentWorkflow.submit_decision,
            DecisionInput(action=Action.STAND_DOWN, actor="op", rationale="drill over"),
        )
        result = await asyncio.wait_for(handle.result(), timeout=120)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=15)

    assert result.outcome is Outcome.STOOD_DOWN, log.read_text()[-3000:]
    requests = [m for m in http_receiver.received if "consultation_request" in (m.key or "")]
    keys = {m.key for m in requests}
    assert len(keys) == len(PARTIES), (len(keys), log.read_text()[-2000:])  # none lost
    per_party = {m.channel for m in requests}
    assert per_party == {f"/{p}" for p in PARTIES}
    # Each party's message once, by key: a second arrival carries the key of the first.
    for party in PARTIES:
        assert len({m.key for m in requests if m.channel == f"/{party}"}) == 1, party
    assert view.notices_sent >= 1
    print(
        f"notice crash: {len(PARTIES)} recipients, {len(requests)} arrivals, "
        f"{len(requests) - len(keys)} raw repeats, {in_flight} reached before the kill"
    )
