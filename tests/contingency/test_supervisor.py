"""The supervisor's policy on real short-lived processes: backoff, restarts, pre-flight refusals,
and the words it logs."""

from __future__ import annotations

import asyncio
import signal
import sys

from contingency.supervisor import Backoff, Child, exit_description


def test_backoff_doubles_to_its_maximum_and_starts_afresh_after_a_stable_run():
    backoff = Backoff(initial=1, maximum=30, stable_after=60)
    assert [backoff.next_delay(0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.at_maximum
    assert backoff.next_delay(uptime=61) == 1  # it stayed up: the next crash is a new story
    assert not backoff.at_maximum


def test_an_exit_is_told_by_status_or_by_signal_name():
    assert exit_description(3) == "exited with status 3"
    assert exit_description(-signal.SIGKILL).startswith("was killed by SIGKILL (")
    assert exit_description(-signal.SIGBUS).startswith(
        "was killed by SIGBUS (a bus error: on SQLite"
    )
    assert exit_description(-signal.SIGTERM) == "was killed by SIGTERM"


def _fast(**kwargs) -> Backoff:
    return Backoff(initial=0.05, maximum=0.2, stable_after=60, **kwargs)


async def _until(predicate, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_a_crash_looping_child_is_restarted_for_ever_at_the_maximum_backoff():
    child = Child("crasher", (sys.executable, "-c", "import sys; sys.exit(3)"), backoff=_fast())
    lines: list[str] = []
    stopping = asyncio.Event()
    await child.start()
    supervising = asyncio.create_task(child.keep_running(stopping, lines.append))
    await _until(lambda: child.restarts >= 6)
    stopping.set()
    await asyncio.wait_for(supervising, 5)

    exits = [line for line in lines if "exited with status 3" in line]
    assert len(exits) >= 6
    assert exits[0].endswith("restarting in 0.05 s")
    # At the maximum, each attempt still says so: never a silent give-up.
    looping = [line for line in exits if "restarting in 0.2 s (failing repeatedly" in line]
    assert len(looping) >= 2
    assert any(line.startswith("crasher restarted (pid ") for line in lines)


async def test_a_child_whose_preflight_fails_is_not_started_until_it_passes():
    problems = ["the disk is full", "the disk is full", None]
    checks: list[str | None] = []

    async def preflight() -> str | None:
        checks.append(problems[min(len(checks), len(problems) - 1)])
        return checks[-1]

    child = Child(
        "sleeper",
        (sys.executable, "-c", "import time; time.sleep(60)"),
        preflight=preflight,
        backoff=_fast(),
    )
    lines: list[str] = []
    stopping = asyncio.Event()
    await child.start()
    first = child.pid
    supervising = asyncio.create_task(child.keep_running(stopping, lines.append))
    child.process.send_signal(signal.SIGKILL)
    await _until(lambda: child.restarts == 1)
    assert child.running and child.pid != first
    assert len(checks) == 3  # started only once the third check passed
    assert lines[0].startswith(f"sleeper (pid {first}) was killed by SIGKILL")
    assert lines[1] == "sleeper not restarted: the disk is full; checking again in 0.1 s"
    assert lines[2] == "sleeper not restarted: the disk is full; checking again in 0.2 s" + (
        " (failing repeatedly: retried every 0.2 s until it stays up 60 s, or Ctrl-C)"
    )
    assert lines[3] == f"sleeper restarted (pid {child.pid}, restart 1)"

    stopping.set()
    await asyncio.wait_for(supervising, 5)
    assert child.running  # supervision ends; stopping the child is the caller's, in order
    await child.stop()
    assert not child.running and child.restarts == 1
