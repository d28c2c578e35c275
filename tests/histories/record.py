"""Record the history of every scenario under scenarios/ into tests/histories/<scenario>.json.

    python tests/histories/record.py            # every scenario
    python tests/histories/record.py late-report stand-down

Re-record only on purpose: these files stand for incidents already in flight. A workflow change
that cannot replay them must be wrapped in ``workflow.patched(...)``, not hidden by re-recording.
"""

from __future__ import annotations

import asyncio
import os
import sys

from exercises.histories import HISTORIES_DIR, SCENARIOS_DIR, record_all
from exercises.runner import quiet_sdk_logs
from foundation.logging import configure_logging


def main(names: list[str]) -> None:
    configure_logging("console", "WARNING")
    quiet_sdk_logs()
    paths = (
        [SCENARIOS_DIR / f"{n}.yaml" for n in names]
        if names
        else sorted(SCENARIOS_DIR.glob("*.yaml"))
    )
    for written in asyncio.run(record_all(paths, HISTORIES_DIR)):
        print(f"recorded {written.relative_to(HISTORIES_DIR.parent.parent)}")
    sys.stdout.flush()
    os._exit(0)  # sdk-python#300: no interpreter teardown with SDK threads about


if __name__ == "__main__":
    main(sys.argv[1:])
