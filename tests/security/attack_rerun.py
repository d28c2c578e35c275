"""The attack rerun of issue 12: a real stack under hostile traffic, then the stuck-workflow
sweep and the forgery catalogue, in one summary table.

    python -m tests.security.attack_rerun [--postgres] [--requests N] [--seed S]
                                          [--clients C] [--kill-worker]

The stack is the one ``contingency up`` runs: the Temporal dev server (in memory), a worker
process (``worker.py``) and the API under uvicorn, on a fresh SQLite file or, with
``--postgres``, a fresh database on TEST_POSTGRES_URL (127.0.0.1:5432/test by default). With
``--kill-worker`` the worker is SIGKILLed half-way through and started again.

Exit status 0 when every target holds: no 5xx, no wrong answer, no stuck incident, every forgery
detected, no false alarm; 1 otherwise. ``tests/security/test_attack_rerun.py`` runs the same
code at a smaller size on both databases.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from db.migrate import upgrade_async
from db.models import LedgerDecision
from db.session import create_engine, session_factory
from db.tokens import create_token
from foundation.logging import configure_logging
from plans.loader import get_plan
from tests.faults.processes import ApiProcess, worker_process
from tests.security.attack_client import Attacker, Progress, Tally
from tests.security.attacks import ROLES, Generator
from tests.security.forgeries import ForgeryReport, forge_and_audit
from tests.security.stuck import StuckReport, find_stuck
from workflows.messages import Evidence, ViolationReport
from workflows.servers import start_dev_server
from workflows.starting import build_input, start_incident

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
EXERCISES = 4  # exercise incidents started beside the real ones, for the separation attacks


@dataclass
class Summary:
    database: str
    seed: int
    tally: Tally
    stuck: StuckReport
    forgeries: ForgeryReport
    exercises: int
    wall_s: float
    kills: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def missed(self) -> list[str]:
        """The targets not met, in words; empty when all hold."""
        out = []
        if self.tally.failures:
            out.append(f"{self.tally.failures} server errors or unanswered requests")
        if self.tally.wrong:
            out.append(f"{self.tally.wrong} wrong answers")
        if self.stuck.stuck:
            out.append(f"{len(self.stuck.stuck)} stuck incidents")
        if self.forgeries.missed:
            out.append(f"{len(self.forgeries.missed)} forgeries undetected")
        if self.forgeries.false_alarms or self.forgeries.baseline_alarms:
            alarms = len(self.forgeries.false_alarms) + len(self.forgeries.baseline_alarms)
            out.append(f"{alarms} false alarms")
        return out

    def table(self) -> str:
        t, s, f = self.tally, self.stuck, self.forgeries
        classes = ", ".join(f"{k} {v}" for k, v in sorted(t.by_class.items()))
        fives = sum(v for k, v in t.by_status.items() if k >= 500)
        grown = max((v for k, v in t.slowest.items() if k.startswith("read-state:")), default=0.0)
        rows = [
            ("database", self.database),
            ("seed", str(self.seed)),
            ("requests generated", f"{t.calls}"),
            ("requests sent (retries included)", f"{t.sent}"),
            ("answers by class", classes),
            ("5xx answers (final)", str(fives)),
            ("503/429 with Retry-After: retried / still after retries", f"{dict(t.retried) or 0} / {dict(t.retried_out) or 0}"),
            ("server errors / unanswered (target 0)", str(t.failures)),
            ("wrong answers (target 0)", str(t.wrong)),
            ("incidents opened (+ exercises)", f"{len(t.opened)} (+ {self.exercises})"),
            ("stood down after the run", str(s.stood_down)),
            ("stuck incidents (target 0)", str(len(s.stuck))),
            ("WORKFLOW_TASK_FAILED events", str(s.task_failures)),
            ("forgeries tried / detected", f"{len(f.tried)} / {len(f.detected)}"),
            ("false alarms (target 0)", str(len(f.false_alarms) + len(f.baseline_alarms))),
            ("slowest query of a grown incident", f"{grown:.2f} s"),
            ("worker kills", str(self.kills)),
            ("wall time", f"{self.wall_s:.1f} s"),
        ]  # fmt: skip
        width = max(len(k) for k, _ in rows)
        lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
        if t.wrong_by_label:
            top = ", ".join(f"{k} {v}" for k, v in t.wrong_by_label.most_common(12))
            lines.append(f"wrong answers by attack: {top}")
        for title, items in (
            ("first wrong answers", t.wrong_examples),
            ("first failures", t.failure_examples),
            ("stuck", s.lines()),
            ("forgeries undetected", [f"{k}: {v}" for k, v in f.missed.items()]),
            ("forgeries not tried", [f"{k}: {v}" for k, v in f.not_tried.items()]),
            ("false alarms", [f"{k}: {v}" for k, v in {**f.baseline_alarms, **f.false_alarms}.items()]),
            ("notes", self.notes),
        ):  # fmt: skip
            if items:
                lines.append(f"{title}:")
                lines.extend(f"  - {item}" for item in items)
        lines.append(
            "TARGETS MET" if not self.missed else "TARGETS MISSED: " + "; ".join(self.missed)
        )
        return "\n".join(lines)


async def _start_exercises(client, task_queue: str, engine, count: int) -> list[str]:
    """Exercise incidents as a live exercise starts them, on the run's task queue."""
    now = datetime.now(UTC)
    ids = []
    for n in range(count):
        drill = ViolationReport(
            report_id=f"drill-{uuid.uuid4().hex}", kind="large_scale_offensive",
            sector=f"Exercise sector {n}", reported_by="exercise-control", observed_at=now,
            reported_at=now, evidence=(Evidence("umpire"),),
        )  # fmt: skip
        incident = build_input(drill, get_plan(), exercise=True)
        await start_incident(client, incident, task_queue, now=now)
        ids.append(incident.incident_id)
    sessions = session_factory(engine)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the worker's first ledger batch writes their rows
        async with sessions() as session:
            found = set(
                await session.scalars(
                    select(LedgerDecision.incident_id).where(LedgerDecision.incident_id.in_(ids))
                )
            )
        if found == set(ids):
            return ids
        await asyncio.sleep(0.1)
    raise AssertionError(f"the exercise incidents never reached the ledger: {set(ids) - found}")


async def run_attack(
    database_url: str,
    *,
    requests: int = 25_000,
    seed: int = 1,
    clients: int = 16,
    kill_worker: bool = False,
    workdir: Path | None = None,
    close_within_s: float = 90.0,
    progress_every_s: float = 0,
) -> Summary:
    began = time.monotonic()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="attack-rerun-"))
    task_queue = f"attack-{seed}-{uuid.uuid4().hex[:8]}"
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        env = await start_dev_server()
        stack.push_async_callback(env.shutdown)
        address = env.client.service_client.config.target_host
        environment = {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": address,
            "CONTINGENCY_TASK_QUEUE": task_queue,
            "CONTINGENCY_LOG_LEVEL": "WARNING",
            "CONTINGENCY_NOTIFICATION_SINK": "exercise",
            # Its own data directory: no contacts file, so the notices reach nobody real.
            "CONTINGENCY_DATA_DIR": str(workdir / "data"),
            # The per-token rate limits have their own tests (test_intake_rate_limit.py,
            # test_write_rate_limit.py); here they would only hide the answers.
            "CONTINGENCY_INTAKE_RATE_PER_MINUTE": "1000000",
            "CONTINGENCY_INTAKE_BURST": "1000000",
            "CONTINGENCY_WRITE_RATE_PER_MINUTE": "1000000",
            "CONTINGENCY_WRITE_BURST": "1000000",
        }
        worker = worker_process("worker", workdir, environment)
        await worker.start()
        stack.push_async_callback(worker.stop)
        api = ApiProcess(workdir, environment)
        await api.start_and_wait()
        stack.push_async_callback(api.stop)
        suffix = uuid.uuid4().hex[:6]
        tokens = {
            role: (await create_token(sessions, f"attack-{role.replace(':', '-')}-{suffix}", role)).secret
            for role in ROLES
        }  # fmt: skip
        exercises = await _start_exercises(env.client, task_queue, engine, EXERCISES)

        scripts = Generator(seed, tuple(exercises), salt=f"-{suffix}").scripts(requests)
        attacker = Attacker(api.url, tokens, clients)
        kills = 0

        async def kill_half_way() -> None:
            nonlocal kills
            await Progress(attacker.tally).reached(sum(s.calls() for s in scripts) // 2)
            await worker.kill()
            kills += 1
            await asyncio.sleep(1.0)
            await worker.start()

        async def report_progress() -> None:
            total = sum(s.calls() for s in scripts)
            while True:
                await asyncio.sleep(progress_every_s)
                t = attacker.tally
                print(
                    f"attack: {t.calls}/{total} requests, {t.failures} failures, "
                    f"{t.wrong} wrong, {time.monotonic() - began:.0f} s",
                    file=sys.stderr,
                )

        helpers = [asyncio.create_task(report_progress())] if progress_every_s else []
        if kill_worker:
            helpers.append(asyncio.create_task(kill_half_way()))
        tally = await attacker.run(scripts)
        for helper in helpers:
            helper.cancel()
        if not worker.running:  # killed too close to the end to have been started again
            await worker.start()
        stuck = await find_stuck(
            env.client,
            api.url,
            tokens["operator"],
            tally.opened | set(exercises),
            set(exercises),
            close_within_s=close_within_s,
        )
        forgeries = await forge_and_audit(
            engine, sessions, env.client, database_url, address, tally.opened | set(exercises)
        )
        notes = []
        if not worker.running:
            notes.append(f"the worker had exited by the end:\n{worker.tail()}")
        summary = Summary(
            database=make_url(database_url).get_backend_name(),
            seed=seed,
            tally=tally,
            stuck=stuck,
            forgeries=forgeries,
            exercises=len(exercises),
            wall_s=time.monotonic() - began,
            kills=kills,
            notes=notes,
        )
    summary.wall_s = time.monotonic() - began
    return summary


async def _fresh_postgres() -> tuple[str, asyncpg.Connection, str]:
    parsed = make_url(POSTGRES_URL)
    admin = await asyncpg.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username or "postgres",
        password=parsed.password, database=parsed.database or "postgres",
    )  # fmt: skip
    name = f"attack_rerun_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    return parsed.set(database=name).render_as_string(hide_password=False), admin, name


async def _main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="attack-rerun-"))
    admin = None
    if args.postgres:
        url, admin, name = await _fresh_postgres()
    else:
        url = f"sqlite+aiosqlite:///{workdir / 'ledger.db'}"
    try:
        await upgrade_async(url)
        summary = await run_attack(
            url,
            requests=args.requests,
            seed=args.seed,
            clients=args.clients,
            kill_worker=args.kill_worker,
            workdir=workdir,
            progress_every_s=30,
        )
    finally:
        if admin is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    print(summary.table())
    print(f"logs: {workdir}", file=sys.stderr)
    return 0 if not summary.missed else 1


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.security.attack_rerun")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--requests", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--kill-worker", action="store_true", help="SIGKILL the worker half-way")
    configure_logging("console", os.environ.get("CONTINGENCY_LOG_LEVEL", "WARNING"))
    status = asyncio.run(_main(parser.parse_args()))
    sys.stdout.flush()
    # Exit explicitly: the SDK's threads can abort a finalising interpreter (sdk-python#300).
    os._exit(status)


if __name__ == "__main__":
    main()
