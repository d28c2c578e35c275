"""The children of `contingency up` kept running: a child that exits is logged and restarted with
exponential backoff, for as long as `up` runs; only `up`'s own SIGINT or SIGTERM stops them.

Each child runs in a session of its own, so Ctrl-C reaches only the launcher, which then stops
them in order; a launcher killed outright takes them with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

STOP_TIMEOUT = 15.0

# What a supervised child must pass before it is started again: None, or the problem.
Preflight = Callable[[], Awaitable[str | None]]
Say = Callable[[str], None]

_SIGNAL_HINTS = {
    signal.SIGBUS: "a bus error: on SQLite, usually its database or -shm file truncated, "
    "vanished or made read-only under the process",
    signal.SIGSEGV: "a segmentation fault",
    signal.SIGKILL: "killed outright, by a person or the kernel's out-of-memory killer",
}


def exit_description(returncode: int) -> str:
    """How a child ended, in words: its status, or the signal that killed it, by name."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    try:
        sig = signal.Signals(-returncode)
    except ValueError:
        return f"was killed by signal {-returncode}"
    hint = _SIGNAL_HINTS.get(sig)
    return f"was killed by {sig.name}" + (f" ({hint})" if hint else "")


@dataclass
class Backoff:
    """1 s doubling to 30 s between starts; a child that stayed up `stable_after` starts afresh."""

    initial: float = 1.0
    maximum: float = 30.0
    stable_after: float = 60.0
    delay: float = field(default=0.0, init=False)

    def next_delay(self, uptime: float | None = None) -> float:
        """The wait before the next start, after a run of ``uptime`` seconds (None: no run)."""
        if uptime is not None and uptime >= self.stable_after:
            self.delay = 0.0
        self.delay = self.initial if not self.delay else min(self.delay * 2, self.maximum)
        return self.delay

    @property
    def at_maximum(self) -> bool:
        return self.delay >= self.maximum


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: Ctrl-C still stops everything, a SIGKILLed launcher may leave orphans


async def _stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()


@dataclass
class Child:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    preflight: Preflight | None = None
    # After a restart, e.g. waiting until the restarted server answers.
    after_restart: Callable[[Child, asyncio.Event], Awaitable[None]] | None = None
    backoff: Backoff = field(default_factory=Backoff)
    process: asyncio.subprocess.Process | None = field(default=None, init=False)
    started_at: float = field(default=0.0, init=False)
    restarts: int = field(default=0, init=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            env={**os.environ, **self.env},
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.started_at = time.monotonic()

    async def stop(self) -> None:
        if self.process is None or not self.running:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("stack.kill", process=self.name, after_seconds=STOP_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    async def keep_running(self, stopping: asyncio.Event, say: Say) -> None:
        """Restart the child whenever it exits, until ``stopping`` is set; never gives up.

        Returns promptly once ``stopping`` is set, leaving the child for the caller to stop in
        order; so nothing is restarted while the stack stops.
        """
        stop_wait = asyncio.ensure_future(stopping.wait())
        try:
            while True:
                assert self.process is not None
                exited = asyncio.ensure_future(self.process.wait())
                await asyncio.wait({exited, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if stopping.is_set():
                    exited.cancel()
                    return
                returncode = exited.result()
                uptime = time.monotonic() - self.started_at
                delay = self.backoff.next_delay(uptime)
                say(
                    f"{self.name} (pid {self.process.pid}) {exit_description(returncode)} "
                    f"after {uptime:.1f} s up; restarting in {delay:g} s{self._crash_loop_note()}"
                )
                if not await self._restart(stopping, delay, say):
                    return
                if self.after_restart is not None:
                    await self.after_restart(self, stopping)
        finally:
            stop_wait.cancel()

    async def _restart(self, stopping: asyncio.Event, delay: float, say: Say) -> bool:
        """Start the child again once its pre-flight passes; False if asked to stop meanwhile."""
        while True:
            if await _stopped_within(stopping, delay):
                return False
            problem = await self._preflight()
            if problem is None:
                try:
                    await self.start()
                except OSError as exc:
                    problem = f"could not be started: {exc}"
            if problem is None:
                self.restarts += 1
                say(f"{self.name} restarted (pid {self.pid}, restart {self.restarts})")
                return True
            delay = self.backoff.next_delay()
            say(
                f"{self.name} not restarted: {problem}; "
                f"checking again in {delay:g} s{self._crash_loop_note()}"
            )

    async def _preflight(self) -> str | None:
        if self.preflight is None:
            return None
        try:
            return await self.preflight()
        except Exception as exc:  # noqa: BLE001 (a check that fails is a problem to report, too)
            return f"the pre-flight check failed: {type(exc).__name__}: {exc}"

    def _crash_loop_note(self) -> str:
        if not self.backoff.at_maximum:
            return ""
        return (
            f" (failing repeatedly: retried every {self.backoff.maximum:g} s until it stays up "
            f"{self.backoff.stable_after:g} s, or Ctrl-C)"
        )
