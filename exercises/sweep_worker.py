"""A sweep worker process: reads a job (JSON) on stdin, runs its share of the sweep through the
workflow on its own time-skipping servers, and writes one RunResult per line on stdout as each
run finishes."""

from __future__ import annotations

import asyncio
import os
import sys

from exercises.runner import quiet_sdk_logs
from exercises.sweep_results import RunResult
from exercises.sweep_temporal import RESULT_PREFIX, WorkerJob, run_slots
from foundation.logging import configure_logging


def main() -> None:
    configure_logging("console", "ERROR")
    quiet_sdk_logs()
    job = WorkerJob.model_validate_json(sys.stdin.read())

    def emit(result: RunResult) -> None:
        sys.stdout.write(RESULT_PREFIX.decode() + result.model_dump_json() + "\n")
        sys.stdout.flush()

    # Each run's script comes from its seed: the same draws as in any other layout.
    asyncio.run(run_slots(job.scenario, job.seeds, servers=job.servers, on_done=emit))
    sys.stdout.flush()
    # Exit without interpreter teardown (sdk-python#300: SDK processes may abort at exit).
    os._exit(0)


if __name__ == "__main__":
    main()
