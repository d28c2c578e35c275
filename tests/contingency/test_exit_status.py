"""Every command ends with its own exit status, whatever happens at interpreter exit: the SDK's
threads sometimes abort a finished process (``PyGILState_Release``, exit 134, sdk-python#300),
and a planner's script would read a failed exercise.

The abort is rare and timing-dependent, so these tests make it certain: an exit handler that
aborts the process stands in for the SDK's threads at finalisation."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ABORT_AT_EXIT = (
    "import atexit, os, sys; atexit.register(os.abort); sys.argv = ['contingency', *sys.argv[1:]]; "
    "from contingency.cli.main import main; main()"
)


async def contingency_aborting_at_exit(*args: str, cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ABORT_AT_EXIT, *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_an_exercise_run_exits_0_and_its_json_is_whole(tmp_path: Path) -> None:
    status, stdout, stderr = await contingency_aborting_at_exit(
        "exercise", "run", "--json", str(REPO / "scenarios" / "stand-down.yaml"), cwd=tmp_path
    )
    assert status == 0, stderr
    assert json.loads(stdout)["outcome"] == "stood_down"
    assert "Fatal Python error" not in stderr


@pytest.mark.parametrize(
    ("args", "status", "said"),
    [
        (("--help",), 0, "Usage"),
        (("exercise", "validate", "missing.yaml"), 2, ""),
        (("no-such-command",), 2, ""),
    ],
)
async def test_each_command_keeps_its_own_status(
    tmp_path: Path, args: tuple[str, ...], status: int, said: str
) -> None:
    got, stdout, stderr = await contingency_aborting_at_exit(*args, cwd=tmp_path)
    assert got == status, stderr
    assert said in stdout
