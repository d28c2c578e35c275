"""`contingency up`: the whole engine on one machine, in one command.

The Temporal dev server (with its Web UI, persisting under the data directory), the database
migrations, the worker and the API. A pre-flight check of the database comes first. The server,
worker and API are child processes, each restarted with backoff when it exits
(contingency/supervisor.py); Ctrl-C or SIGTERM stops them in order (API, worker, server) and waits
for each.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape

from contingency.supervisor import STOP_TIMEOUT, Child, exit_description
from db.migrate import upgrade_async
from db.preflight import check_database, check_sqlite_file
from db.session import create_engine, session_factory
from db.tokens import create_token, has_tokens
from foundation.settings import Settings
from foundation.temporal import connect
from workflows.execution_record import ensure_retention
from workflows.search_attributes import ensure_search_attributes
from workflows.servers import TIMER_PRECISION, binary

console = Console(highlight=False)

START_TIMEOUT = 60.0
BOOTSTRAP_TOKEN = "local-operator"


class StackFailed(RuntimeError):
    pass


def say(message: str) -> None:
    """One line of the supervisor's log, timestamped, never wrapped (operators grep it)."""
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {escape(message)}", soft_wrap=True)
    sys.stdout.flush()


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

    @property
    def temporal_state(self) -> Path:
        return self.settings.data_dir.resolve() / "temporal.db"

    async def _spawn(self, child: Child) -> Child:
        await child.start()
        self.children.append(child)
        return child

    async def _database_ready(self) -> str | None:
        # Migrated at start: a SQLite file missing now has vanished, and must not come back empty.
        return await check_database(self.settings.database_url, must_exist=True)

    async def _temporal_state_ready(self) -> str | None:
        problem = await asyncio.to_thread(check_sqlite_file, self.temporal_state, must_exist=True)
        return f"the Temporal dev server's state: {problem}" if problem else None

    async def preflight(self) -> None:
        """Before anything starts: the data directory, the database, the dev server's state file."""
        try:
            self.settings.ensure_data_dir()
        except OSError as exc:
            raise StackFailed(
                f"pre-flight: cannot create the data directory {self.settings.data_dir}: "
                f"{exc.strerror or exc}"
            ) from None
        problem = await check_database(self.settings.database_url)
        if problem is None and not self.external_temporal:
            problem = await asyncio.to_thread(check_sqlite_file, self.temporal_state)
            if problem:
                problem = f"the Temporal dev server's state: {problem}"
        if problem:
            raise StackFailed(f"pre-flight: {problem}; nothing was started")

    async def start(self) -> None:
        settings = self.settings
        await self.preflight()
        data_dir = settings.data_dir.resolve()
        if self.external_temporal:
            self.temporal_address = settings.temporal_address
        else:
            self.temporal_address = f"127.0.0.1:{settings.temporal_port}"
            self.ui_url = f"http://127.0.0.1:{settings.temporal_ui_port}"
            # --db-filename: the dev server keeps its state across restarts (in memory, a
            # restarted server would have forgotten every incident).
            await self._spawn(
                Child(
                    "temporal",
                    (
                        binary("temporal"), "server", "start-dev",
                        "--db-filename", str(self.temporal_state),
                        "--ip", "127.0.0.1",
                        "--port", str(settings.temporal_port),
                        "--ui-port", str(settings.temporal_ui_port),
                        "--ui-disable-news-fetch",
                        "--log-level", "error",
                        *TIMER_PRECISION,
                    ),
                    preflight=self._temporal_state_ready,
                    after_restart=self._temporal_answers_again,
                )
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
        await self._spawn(
            Child(
                "worker",
                (sys.executable, "-m", "worker"),
                env=env,
                preflight=self._database_ready,
            )
        )
        await self._spawn(
            Child(
                "api",
                (
                    sys.executable, "-m", "api.serving",  # uvicorn, slow clients bounded
                    "--host", settings.api_host, "--port", str(settings.api_port),
                ),
                env=env,
                preflight=self._database_ready,
            )
        )  # fmt: skip
        await self._wait_for_api()

    async def _temporal_answers_again(self, child: Child, stopping: asyncio.Event) -> None:
        """After a restart of the dev server: say when it answers. The worker and the API
        reconnect by themselves (or, if they exited meanwhile, are restarted)."""
        settings = self.settings.model_copy(update={"temporal_address": self.temporal_address})
        deadline = time.monotonic() + START_TIMEOUT
        while child.running and not stopping.is_set():
            try:
                client = await asyncio.wait_for(connect(settings), 5)
                # A no-op on the kept state; registers them again if the state file was replaced.
                await ensure_search_attributes(client, settings.temporal_namespace)
            except Exception as exc:  # noqa: BLE001 (refused, not yet listening, ...)
                if time.monotonic() > deadline:
                    say(f"temporal does not answer at {self.temporal_address}: {exc}")
                    return
                await asyncio.sleep(0.3)
                continue
            say(
                f"temporal answers again at {self.temporal_address}, its state kept in "
                f"{self.temporal_state}"
            )
            return

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
        """While starting, a child that exits fails the start: something is wrong at once."""
        for child in self.children:
            if not child.running and child.process is not None:
                returncode = child.process.returncode
                assert returncode is not None
                raise StackFailed(f"{child.name} {exit_description(returncode)} while starting")

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

    async def supervise(self, stop: asyncio.Event) -> None:
        """Keep every child running until ``stop`` is set."""
        tasks = [asyncio.ensure_future(child.keep_running(stop, say)) for child in self.children]
        try:
            await asyncio.gather(*tasks)
        finally:
            # Whatever ended the supervision, no child may be restarted while the stack stops.
            stop.set()
            _, pending = await asyncio.wait(tasks, timeout=STOP_TIMEOUT)
            for task in pending:
                task.cancel()

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
        stopped.cancel()
        if not startup.done():  # Ctrl-C while starting
            startup.cancel()
            await asyncio.gather(startup, return_exceptions=True)
        else:
            try:
                startup.result()
            except StackFailed as exc:
                console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
                code = 1
            else:
                stack.print_urls()
                await stack.supervise(stop)
    finally:
        await stack.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if code == 0:
        names = ", ".join(child.name for child in reversed(stack.children))
        console.print(
            f"stopped{f' ({names})' if names else ''}: nothing of the stack is left running"
        )
    return code
