"""`contingency up`: the whole engine on one machine, in one command.

The Temporal dev server (with its Web UI, persisting under the data directory), the database
migrations, the worker and the API. The server, worker and API run as child processes in sessions
of their own, so Ctrl-C reaches only this launcher, which then stops them in order (API, worker,
server) and waits for each; a launcher killed outright takes them with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from dataclasses import dataclass, field

import httpx
import structlog
from rich.console import Console

from db.migrate import upgrade_async
from db.session import create_engine, session_factory
from db.tokens import create_token, has_tokens
from foundation.settings import Settings
from foundation.temporal import connect
from workflows.execution_record import ensure_retention
from workflows.search_attributes import ensure_search_attributes
from workflows.servers import binary

log = structlog.get_logger(__name__)
console = Console(highlight=False)

START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
BOOTSTRAP_TOKEN = "local-operator"


class StackFailed(RuntimeError):
    pass


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: Ctrl-C still stops everything, a SIGKILLed launcher may leave orphans


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def stop(self) -> None:
        if not self.running:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("stack.kill", process=self.name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()


@dataclass
class Stack:
    settings: Settings
    children: list[Child] = field(default_factory=list)
    temporal_address: str = ""
    ui_url: str | None = None

    @property
    def api_url(self) -> str:
        host = self.settings.api_host
        return (
            f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{self.settings.api_port}"
        )

    @property
    def external_temporal(self) -> bool:
        return "temporal_address" in self.settings.model_fields_set

    async def _spawn(self, name: str, *argv: str, env: dict[str, str] | None = None) -> Child:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        child = Child(name, process)
        self.children.append(child)
        return child

    async def start(self) -> None:
        settings = self.settings
        settings.ensure_data_dir()
        data_dir = settings.data_dir.resolve()
        if self.external_temporal:
            self.temporal_address = settings.temporal_address
        else:
            self.temporal_address = f"127.0.0.1:{settings.temporal_port}"
            self.ui_url = f"http://127.0.0.1:{settings.temporal_ui_port}"
            await self._spawn(
                "temporal",
                binary("temporal"), "server", "start-dev",
                "--db-filename", str(data_dir / "temporal.db"),
                "--ip", "127.0.0.1",
                "--port", str(settings.temporal_port),
                "--ui-port", str(settings.temporal_ui_port),
                "--ui-disable-news-fetch",
                "--log-level", "error",
            )  # fmt: skip
        await self._wait_for_temporal()
        console.print(f"[dim]migrating {_redacted(settings.database_url)}[/dim]")
        await upgrade_async(settings.database_url)
        await self._bootstrap_token()

        env = {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "DATABASE_URL": settings.database_url,
            "CONTINGENCY_DATA_DIR": str(data_dir),
        }
        await self._spawn("worker", sys.executable, "-m", "worker", env=env)
        await self._spawn(
            "api",
            sys.executable, "-m", "uvicorn", "api.app:create_app_from_env", "--factory",
            "--host", settings.api_host, "--port", str(settings.api_port), "--log-level", "warning",
            env=env,
        )  # fmt: skip
        await self._wait_for_api()

    async def _wait_for_temporal(self) -> None:
        settings = self.settings.model_copy(update={"temporal_address": self.temporal_address})
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while True:
            self._check_children()
            try:
                client = await connect(settings)
                break
            except Exception as exc:  # noqa: BLE001 (refused, not yet listening, ...)
                if asyncio.get_running_loop().time() > deadline:
                    raise StackFailed(
                        f"Temporal at {self.temporal_address} did not come up: {exc}"
                    ) from None
                await asyncio.sleep(0.3)
        added = await ensure_search_attributes(client, settings.temporal_namespace)
        if added:
            console.print(f"[dim]registered search attributes: {', '.join(added)}[/dim]")
        if not self.external_temporal:
            days = settings.temporal_retention_days
            if await ensure_retention(client, settings.temporal_namespace, days):
                console.print(f"[dim]closed histories kept {days} days[/dim]")

    async def _wait_for_api(self) -> None:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                self._check_children()
                try:
                    if (await http.get(f"{self.api_url}/readyz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise StackFailed(f"the API at {self.api_url} did not become ready")
                await asyncio.sleep(0.3)

    async def _bootstrap_token(self) -> None:
        """On the very first start, an operator token, so the API can be used at once."""
        engine = create_engine(self.settings.database_url)
        try:
            sessions = session_factory(engine)
            if await has_tokens(sessions):
                return
            token = await create_token(sessions, BOOTSTRAP_TOKEN, "operator")
        finally:
            await engine.dispose()
        console.print(
            f"First start: created an operator token [bold]{BOOTSTRAP_TOKEN}[/bold] (shown only once):"
        )
        console.print(f"  export CONTINGENCY_TOKEN={token.secret}", soft_wrap=True)

    def _check_children(self) -> None:
        for child in self.children:
            if not child.running:
                raise StackFailed(f"{child.name} exited with status {child.process.returncode}")

    def print_urls(self) -> None:
        console.print()
        console.print(
            "[bold green]The contingency engine is up.[/bold green] Ctrl-C stops everything."
        )
        console.print(f"  API          {self.api_url}")
        console.print(f"  API docs     {self.api_url}/docs")
        if self.ui_url:
            console.print(f"  Temporal UI  {self.ui_url}")
        console.print(f"  Temporal     {self.temporal_address}")
        console.print(f"  Database     {_redacted(self.settings.database_url)}")
        console.print(f"  export CONTINGENCY_API_URL={self.api_url}", soft_wrap=True)
        sys.stdout.flush()

    async def wait(self, stop: asyncio.Event) -> Child | None:
        """Until asked to stop (None) or until a child exits on its own (that child)."""
        waits = {asyncio.ensure_future(child.process.wait()): child for child in self.children}
        stopped = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({stopped, *waits}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopped, *waits):
            task.cancel()
        return next((waits[t] for t in done if t in waits), None)

    async def stop(self) -> None:
        for child in reversed(self.children):
            if child.running:
                console.print(f"[dim]stopping {child.name}[/dim]")
            await child.stop()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def run_stack(settings: Settings) -> int:
    stack = Stack(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        startup = asyncio.ensure_future(stack.start())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({startup, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not startup.done():
            startup.cancel()
            await asyncio.gather(startup, return_exceptions=True)
            return 0
        stopped.cancel()
        try:
            startup.result()
        except StackFailed as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 1
        stack.print_urls()
        failed = await stack.wait(stop)
        if failed is not None:
            console.print(
                f"[red]error:[/red] {failed.name} exited with status {failed.process.returncode}; stopping"
            )
            code = 1
    finally:
        await stack.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    console.print("stopped")
    return code
