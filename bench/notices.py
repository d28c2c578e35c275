"""Reaching people, measured: one whole incident with every audience of the plan configured
(the twelve parties by mail to a real SMTP server, the authorities and the cell by JSON posts to
a real HTTP receiver), on the dev server at a compressed clock.

Counts: messages the outbox meant (distinct idempotency keys), the recipients, raw repeats at
the receivers (duplicates a receiver drops: target 0 here, nothing fails), and messages lost
(meant but never received: target 0). Latency: from a deadline passing (its instant on the
compressed clock) to the escalation notice arriving, against a bare Temporal baseline in the same
run: a workflow whose timer fires and whose one activity posts to the same receiver.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Route
from temporalio.worker import Worker

from bench.bare_post import PostAt, TimerThenPost, bench_post
from bench.harness import temp_sqlite
from bench.report import Result
from db.deliveries import incident_deliveries
from db.session import create_engine, session_factory
from foundation.settings import Settings
from plans.loader import get_plan
from tests.receivers import HttpReceiver, SmtpReceiver
from tests.serving import serve_asgi
from worker import WorkerDependencies, build_worker
from workflows.incident import IncidentWorkflow
from workflows.messages import AcknowledgeInput, Answer, CommitmentInput, ViolationReport
from workflows.servers import start_dev_server
from workflows.starting import build_input, start_incident


def _contacts(directory: Path, smtp: SmtpReceiver, http: HttpReceiver) -> None:
    plan = get_plan()
    lines = ["audiences:"]
    for party in plan.parties:
        lines += [f"  party:{party}:", f'    - "{smtp.url(to=f"{party}@example.org")}"']
    for level in (e.level for e in plan.escalation_levels):
        lines += [f"  level:{level}:", f'    - "{http.json_url(f"/level-{level}")}"']
    lines += ["  cell:", f'    - "{http.json_url("/cell")}"']
    (directory / "contacts.yaml").write_text("\n".join(lines) + "\n")


async def run(quick: bool) -> Result:
    scale = 36000.0 if quick else 3600.0  # 72 plan hours in 7 s, or in 72 s
    result = Result("notices", "Reaching people: one incident, every party configured")
    smtp, http = SmtpReceiver(), HttpReceiver()
    smtp.start()
    app = Starlette(routes=[Route("/{path:path}", http.handle, methods=["POST"])])
    data_dir = Path(tempfile.mkdtemp(prefix="bench-notices-"))
    try:
        async with serve_asgi(app) as base, temp_sqlite() as url:
            http.base_url = base
            _contacts(data_dir, smtp, http)
            env = await start_dev_server()
            queue = f"bench-notices-{uuid.uuid4().hex[:8]}"
            settings = Settings(database_url=url, task_queue=queue, data_dir=data_dir)
            deps = WorkerDependencies.build(settings)
            try:
                async with build_worker(env.client, queue, deps, settings):
                    figures = await _incident(env, queue, scale, url, smtp, http)
                bare = await _bare(env, http, base, scale)
            finally:
                await deps.close()
                await env.shutdown()
    finally:
        smtp.stop()

    meant, received, repeats, recipients, latencies = figures
    lost = len(meant - received)
    result.params.update(time_scale=scale, quick=quick)
    result.add("messages meant (distinct keys)", len(meant))
    result.add("recipients (audience × channel)", recipients)
    result.add("messages received", len(received & meant))
    result.add("duplicates at the receivers (raw repeats)", repeats, target="<= 0")
    result.add("lost messages", lost, target="<= 0")
    median, baseline = statistics.median(latencies), statistics.median(bare)
    result.add(
        "deadline passed → page delivered, median",
        round(median, 3),
        "s",
        baseline=round(baseline, 3),
        ratio=round(median / baseline, 2) if baseline else None,
    )
    result.add("deadline passed → page delivered, worst", round(max(latencies), 3), "s")
    result.notes.append(
        f"{len(latencies)} escalation notices timed on a x{scale:g} clock; baseline: a bare "
        "workflow's timer firing, then one activity posting to the same receiver"
    )
    return result


async def _incident(env, queue, scale, url, smtp, http):
    plan = get_plan()
    now = await env.get_current_time()
    report = ViolationReport(
        report_id=f"bench-{uuid.uuid4().hex}", kind="large_scale_offensive", sector="bench",
        reported_by="bench", observed_at=now, reported_at=now,
    )  # fmt: skip
    incident = build_input(report, plan, time_scale=scale)
    handle = await start_incident(env.client, incident, queue, now=now)
    t0 = now.timestamp()  # T0 itself: the dev server runs on this machine's clock
    # One party only and no second source: the ladder climbs at T0+12h and T0+48h.
    await handle.execute_update(
        IncidentWorkflow.submit_commitment,
        CommitmentInput(party="uk", answer=Answer.COMMIT, assets=("naval",), actor="uk"),
    )
    acknowledged = False
    while True:
        view = await handle.query(IncidentWorkflow.state)
        if view.outcome is not None:
            break
        if not acknowledged and any(a.level == 2 for a in view.awaiting_ack):
            awaited = next(a for a in view.awaiting_ack if a.level == 2)
            if awaited.repeats >= 2:
                await handle.execute_update(
                    IncidentWorkflow.acknowledge, AcknowledgeInput(awaited.notice_id, "bench")
                )
                acknowledged = True
        await asyncio.sleep(0.05)
    await handle.result()
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            rows = await incident_deliveries(session, view.incident_id)
    finally:
        await engine.dispose()
    meant = {r.idempotency_key for r in rows}
    arrivals = smtp.received + http.received
    received = {m.key for m in arrivals if m.key}
    repeats = smtp.repeats + http.repeats
    latencies = []
    # Level 2 when verification lapses (T0+12h, no second source), level 3 when the quorum
    # still fails at T0+48h.
    for level, hours in ((2, 12.0), (3, 48.0)):
        due = t0 + hours * 3600 / scale
        first = min(
            (m.arrived for m in http.at(f"/level-{level}") if m.arrived >= due - 0.5),
            default=None,
        )
        if first is not None:
            latencies.append(max(0.0, first - due))
    return meant, received, repeats, len(rows), latencies


async def _bare(env, http, base, scale) -> list[float]:
    queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    latencies = []
    async with Worker(
        env.client, task_queue=queue, workflows=[TimerThenPost], activities=[bench_post]
    ):
        for i in range(3):
            path = f"/bare-{i}"
            after = 24 * 3600 / scale / 4
            started = time.time()
            await env.client.execute_workflow(
                TimerThenPost.run, PostAt(f"{base}{path}", after), id=f"bare-{uuid.uuid4().hex}",
                task_queue=queue,
            )  # fmt: skip
            latencies.append(max(0.0, http.at(path)[0].arrived - (started + after)))
    return latencies
