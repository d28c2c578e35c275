"""Recorded incident histories: export one from a server, replay one against the current code,
record one per scenario for the test suite.

A history file is the server's own JSON form of the event history (what ``fetch_history()``
and ``temporal workflow show --output json`` produce); the workflow id is the file's stem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import worker
from foundation.converter import DATA_CONVERTER
from foundation.ids import workflow_id_for
from workflows.incident import IncidentWorkflow

ROOT = Path(__file__).resolve().parent.parent
HISTORIES_DIR = ROOT / "tests" / "histories"
SCENARIOS_DIR = ROOT / "scenarios"


def replayer() -> Replayer:
    """The production workflow with the production sandbox settings (those of ``worker.py``)."""
    return Replayer(
        workflows=[IncidentWorkflow],
        data_converter=DATA_CONVERTER,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*worker.PASSTHROUGH)
        ),
    )


@dataclass(frozen=True)
class ReplayOutcome:
    path: Path
    workflow_id: str
    events: int
    failure: str | None

    @property
    def deterministic(self) -> bool:
        return self.failure is None


def load_history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


async def replay_file(path: Path) -> ReplayOutcome:
    history = load_history(path)
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    failure = (
        None
        if result.replay_failure is None
        else f"{type(result.replay_failure).__name__}: {result.replay_failure}"
    )
    return ReplayOutcome(
        path=path, workflow_id=history.workflow_id, events=len(history.events), failure=failure
    )


async def export_history(client: Client, incident: str) -> tuple[str, str]:
    """(workflow id, history JSON) of an incident, given its incident id or its workflow id."""
    workflow_id = incident if incident.startswith("incident-") else workflow_id_for(incident)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return workflow_id, history.to_json()


async def record_all(scenarios: list[Path], out_dir: Path) -> list[Path]:
    """Run every scenario on a fresh time-skipping server and write its history to ``out_dir``."""
    from exercises.runner import SkippingClock, exercise_worker, run_script, temporary_database
    from exercises.scenario import load_scenario
    from exercises.script import build_script
    from workflows.servers import start_time_skipping

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    env = await start_time_skipping()
    try:
        async with temporary_database() as url:
            async with exercise_worker(env.client, url, "record-histories") as exercise:
                for path in scenarios:
                    scenario = load_scenario(path)
                    target = out_dir / f"{path.stem}.json"

                    async def save(handle, target: Path = target) -> None:
                        target.write_text(
                            (await handle.fetch_history()).to_json(), encoding="utf-8"
                        )
                        # An incident merged into the scenario's: its side of the merge too.
                        view = await handle.query(IncidentWorkflow.state)
                        for n, absorbed in enumerate(view.merged_from, start=1):
                            other = env.client.get_workflow_handle(workflow_id_for(absorbed))
                            side = target.with_name(f"{target.stem}.absorbed-{n}.json")
                            side.write_text((await other.fetch_history()).to_json(), "utf-8")
                            written.append(side)

                    await run_script(
                        exercise, scenario, build_script(scenario), SkippingClock(env), after=save
                    )
                    written.append(target)
    finally:
        await env.shutdown()
    return written
