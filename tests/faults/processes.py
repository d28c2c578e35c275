"""The engine's processes as the fault tests run them: the real Temporal dev server on a
database file, worker processes (``worker.py``) and the API under uvicorn, each a subprocess the
test can stop, kill and start again, with its output kept in a log file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from foundation.settings import Settings
from foundation.temporal import connect
from tests.serving import free_port
from workflows.search_attributes import ensure_search_attributes
from workflows.servers import binary

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


@dataclass
class Process:
    """One child process, restartable, appending to one log file."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        with self.log.open("ab") as out:
            out.write(
                f"\n===== start {self.starts + 1} of {self.name} at {time.time():.3f}\n".encode()
            )
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # a signal to it reaches its children too
            )
        self.starts += 1

    async def signal(self, sig: signal.Signals, wait: float = 30.0) -> None:
        if not self.running:
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            await asyncio.wait_for(self.process.wait(), wait)
        except TimeoutError:
            os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    async def kill(self) -> None:
        await self.signal(signal.SIGKILL)

    async def stop(self) -> None:
        await self.signal(signal.SIGTERM)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class TemporalServer(Process):
    """``temporal server start-dev --db-filename`` on a fixed port, so a restart on the same
    file is the same server to every client."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.db_file = directory / "t.db"
        super().__init__(
            name="temporal",
            argv=[
                binary("temporal"),
                "server",
                "start-dev",
                "--headless",
                "--db-filename",
                str(self.db_file),
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--http-port",
                str(free_port()),
                "--metrics-port",
                str(free_port()),
                "--log-level",
                "error",
            ],
            log=directory / "temporal.log",
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start_and_wait(self) -> float:
        """Start, wait until it answers; seconds it took."""
        began = time.monotonic()
        await self.start()
        settings = Settings(temporal_address=self.address)
        while True:
            if not self.running:
                raise AssertionError(f"the Temporal dev server exited:\n{self.tail()}")
            try:
                client = await connect(settings)
                await ensure_search_attributes(client, client.namespace)
                return time.monotonic() - began
            except Exception:  # noqa: BLE001 (not listening yet)
                if time.monotonic() - began > START_TIMEOUT:
                    raise AssertionError(
                        f"the Temporal dev server did not come up:\n{self.tail()}"
                    ) from None
                await asyncio.sleep(0.2)


def worker_process(name: str, directory: Path, env: dict[str, str]) -> Process:
    return Process(
        name=name,
        argv=[sys.executable, str(ROOT / "worker.py")],
        log=directory / f"{name}.log",
        env=env,
    )


class ApiProcess(Process):
    """The API under uvicorn, as ``contingency up`` runs it."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        super().__init__(
            name="api",
            argv=[
                sys.executable,
                "-m",
                "api.serving",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            log=directory / "api.log",
            env=env,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start_and_wait(self) -> float:
        began = time.monotonic()
        await self.start()
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                if not self.running:
                    raise AssertionError(f"the API exited:\n{self.tail()}")
                try:
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return time.monotonic() - began
                except httpx.HTTPError:
                    pass
                if time.monotonic() - began > START_TIMEOUT:
                    raise AssertionError(f"the API did not come up:\n{self.tail()}")
                await asyncio.sleep(0.1)
