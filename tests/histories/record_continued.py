"""Record an incident that continued as new into tests/histories/continued/run-<n>.json.

    python tests/histories/record_continued.py

Each run's history replays on its own (its input carries the state the last run handed over),
so these files keep the hand-over deterministic for incidents already in flight. Re-record only
on purpose, as for record.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from exercises.histories import HISTORIES_DIR
from exercises.runner import exercise_worker, quiet_sdk_logs, temporary_database
from foundation.logging import configure_logging
from tests.workflows.support import start_drill
from tests.workflows.test_continue_as_new import runs_of
from workflows.incident import IncidentWorkflow
from workflows.limits import RunLimits
from workflows.messages import Action, DeploymentInput, DeploymentStatus, NoteInput
from workflows.servers import start_time_skipping
from workflows.updating import execute_update

OUT = HISTORIES_DIR / "continued"


async def record() -> list[Path]:
    env = await start_time_skipping()
    try:
        async with temporary_database() as url:
            async with exercise_worker(env.client, url, "record-continued"):
                drill = await start_drill(
                    env, "record-continued", "large_scale_offensive", limits=RunLimits(updates=4)
                )
                await drill.at(1)
                for i in range(10):
                    await drill.evidence(f"isr-{i % 3}", f"сводка {i}")
                await drill.at(10)
                for party, assets in (("uk", ("air",)), ("pl", ("ground",)), ("us", ("air",))):
                    await drill.commit(party, *assets)
                await drill.decide(Action.AUTHORIZE, "quorum reached; NAC concurs")
                # The active response hands over too: its forces and journal in the next runs.
                await drill.at(20)
                await execute_update(
                    drill.handle,
                    IncidentWorkflow.report_deployment,
                    DeploymentInput("us", DeploymentStatus.DEPLOYED, ("air",), actor="ally:us"),
                )
                for i in range(5):
                    await execute_update(
                        drill.handle,
                        IncidentWorkflow.add_note,
                        NoteInput(text=f"shift {i}: forces on station", actor="cell"),
                    )
                await drill.result()  # the drill terminates the active response
                histories = await runs_of(env.client, drill.handle.id)
    finally:
        await env.shutdown()
    OUT.mkdir(parents=True, exist_ok=True)
    written = []
    for n, history in enumerate(histories, start=1):
        target = OUT / f"run-{n}.json"
        target.write_text(history.to_json(), encoding="utf-8")
        written.append(target)
    return written


def main() -> None:
    configure_logging("console", "WARNING")
    quiet_sdk_logs()
    for written in asyncio.run(record()):
        print(f"recorded {written.relative_to(HISTORIES_DIR.parent.parent)}")
    sys.stdout.flush()
    os._exit(0)  # sdk-python#300: no interpreter teardown with SDK threads about


if __name__ == "__main__":
    main()
