"""`contingency up` as a user runs it: a subprocess on free ports and a temporary data directory,
used through the API; its children killed one by one and brought back; a database it must not
trust refused before anything starts; stopped with Ctrl-C (SIGINT) or SIGTERM, leaving nothing
running."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.filesystem import read_only
from tests.serving import free_port

CONTINGENCY = str(Path(sys.executable).parent / "contingency")
START_TIMEOUT = 90.0
# How each child of `up` shows in its command line.
CHILD_MARKS = {"temporal": "start-dev", "worker": "-m\0worker", "api": "-m\0api.serving"}


def children_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@dataclass
class Up:
    """One `contingency up` process, its output collected line by line."""

    process: asyncio.subprocess.Process
    api_port: int
    data_dir: Path
    lines: list[str] = field(default_factory=list)
    reader: asyncio.Task | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    async def launch(cls, data_dir: Path, database_url: str | None = None) -> Up:
        api_port, temporal_port, ui_port = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "DATABASE_URL")}
        env.update(CONTINGENCY_LOG_FORMAT="json", COLUMNS="200")
        if database_url is not None:
            env["DATABASE_URL"] = database_url
        process = await asyncio.create_subprocess_exec(
            CONTINGENCY, "up", "--api-port", str(api_port), "--temporal-port", str(temporal_port),
            "--ui-port", str(ui_port), "--data-dir", str(data_dir),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        up = cls(process, api_port, data_dir)
        up.reader = asyncio.create_task(up._drain())
        return up

    async def _drain(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace"))

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    async def line(self, pattern: str, *, after: int = 0, timeout: float = 60) -> re.Match[str]:
        """The first line from ``after`` on that matches ``pattern``, waiting for it."""
        regex = re.compile(pattern)
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines[after:]:
                    if match := regex.search(line):
                        return match
                if self.process.returncode is not None and self.reader and self.reader.done():
                    raise AssertionError(f"up exited before {pattern!r}:\n{self.output}")
                await asyncio.sleep(0.05)

    async def until_up(self, database_url: str | None) -> None:
        try:
            await self.line("export CONTINGENCY_API_URL=", timeout=START_TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"up did not come up:\n{self.output}") from None
        token = re.search(r"CONTINGENCY_TOKEN=(ct_\S+)", self.output)
        if token:
            secret = token.group(1)
        else:  # the shared PostgreSQL database already had tokens: make our own
            from db.session import create_engine, session_factory
            from db.tokens import create_token

            assert database_url is not None
            engine = create_engine(database_url)
            name = f"up-{uuid.uuid4().hex[:6]}"
            secret = (await create_token(session_factory(engine), name, "operator")).secret
            await engine.dispose()
        self.headers = {"Authorization": f"Bearer {secret}"}

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.api_url, headers=self.headers, timeout=30)

    def child(self, name: str) -> int:
        """The pid of the running child called ``name`` (temporal, worker, api)."""
        for pid in children_of(self.process.pid):
            if alive(pid) and CHILD_MARKS[name] in Path(f"/proc/{pid}/cmdline").read_text():
                return pid
        raise AssertionError(f"no {name} among the children of up:\n{self.output}")

    async def stop(self, sig: signal.Signals) -> int:
        if self.process.returncode is None:
            self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), 60)
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 30)
        return code


async def report(http: httpx.AsyncClient) -> str:
    reported = await http.post(
        "/v1/violations",
        json={"report_id": f"up-{uuid.uuid4().hex}", "kind": "ceasefire_breach", "sector": "Luhansk",
              "reported_by": "osce-smm"},
    )  # fmt: skip
    assert reported.status_code == 202, reported.text
    return reported.json()["incident_id"]


async def in_the_ledger(http: httpx.AsyncClient, incident_id: str, timeout: float = 60) -> None:
    """Until the worker has written the incident's `reported` row."""
    async with asyncio.timeout(timeout):
        while True:
            ledger = await http.get(f"/v1/incidents/{incident_id}/decisions")
            if ledger.status_code == 200 and [d["kind"] for d in ledger.json()["decisions"]] == [
                "reported"
            ]:
                return
            await asyncio.sleep(0.2)


async def ready(http: httpx.AsyncClient, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack_database(request) -> str | None:
    """SQLite is the embedded default in the data directory, PostgreSQL the session's database."""
    return None if request.param == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.fixture(scope="module")
async def stack(stack_database, tmp_path_factory) -> AsyncIterator[Up]:
    """One running `up` for the module's tests, which take it apart one child at a time."""
    up = await Up.launch(tmp_path_factory.mktemp("up") / "data", stack_database)
    try:
        await up.until_up(stack_database)
        yield up
    finally:
        await up.stop(signal.SIGTERM)  # a no-op when the last test has stopped it


async def test_up_serves_the_engine(stack):
    assert f"http://127.0.0.1:{stack.api_port}/docs" in stack.output
    assert len(children_of(stack.process.pid)) == 3  # temporal, worker, api
    async with stack.http() as http:
        assert (await http.get("/readyz")).json()["status"] == "ready"
        incident_id = await report(http)
        shown = await http.get(f"/v1/incidents/{incident_id}")
        assert shown.status_code == 200 and shown.json()["phase"] == "verification"


async def test_a_killed_worker_is_restarted_and_a_later_report_reaches_the_ledger(stack):
    worker = stack.child("worker")
    mark = len(stack.lines)
    os.kill(worker, signal.SIGKILL)
    await stack.line(
        rf"worker \(pid {worker}\) was killed by SIGKILL .* up; restarting in 1 s", after=mark
    )
    async with stack.http() as http:
        assert (await http.get("/healthz")).status_code == 200  # the API did not go with it
        restarted = await stack.line(r"worker restarted \(pid (\d+), restart 1\)", after=mark)
        assert int(restarted.group(1)) == stack.child("worker") != worker
        await in_the_ledger(http, await report(http))


async def test_a_killed_api_comes_back(stack):
    api = stack.child("api")
    mark = len(stack.lines)
    os.kill(api, signal.SIGKILL)
    await stack.line(rf"api \(pid {api}\) was killed by SIGKILL", after=mark)
    await stack.line(r"api restarted \(pid \d+, restart 1\)", after=mark)
    async with stack.http() as http:
        await ready(http)
        assert (await http.get("/v1/incidents")).status_code == 200


async def test_a_killed_dev_server_comes_back_with_its_state(stack):
    async with stack.http() as http:
        before = await report(http)
        await in_the_ledger(http, before)
        temporal = stack.child("temporal")
        mark = len(stack.lines)
        os.kill(temporal, signal.SIGKILL)
        await stack.line(rf"temporal \(pid {temporal}\) was killed by SIGKILL", after=mark)
        await stack.line(r"temporal restarted \(pid \d+, restart 1\)", after=mark)
        state = re.escape(str(stack.data_dir.resolve() / "temporal.db"))
        await stack.line(rf"temporal answers again at .*, its state kept in {state}", after=mark)
        # The incident from before the crash is still there, its workflow answering through the
        # reconnected worker; and a new report runs through the whole stack.
        async with asyncio.timeout(60):
            while (shown := await http.get(f"/v1/incidents/{before}")).status_code != 200:
                await asyncio.sleep(0.2)
        assert shown.json()["phase"] == "verification"
        await in_the_ledger(http, await report(http))
    # The worker and the API reconnected by themselves, or were restarted: either way, running.
    assert {alive(stack.child(name)) for name in ("worker", "api")} == {True}


async def test_ctrl_c_stops_everything_in_order(stack):
    children = children_of(stack.process.pid)
    assert len(children) == 3
    mark = len(stack.lines)
    code = await stack.stop(signal.SIGINT)
    after = [line.strip() for line in stack.lines[mark:]]
    assert code == 0, stack.output
    stopping = [line for line in after if line.startswith("stopping ")]
    assert stopping == ["stopping api", "stopping worker", "stopping temporal"]
    assert after[-1] == "stopped (api, worker, temporal): nothing of the stack is left running"
    # Children exiting as they are stopped are not crashes: nothing is restarted meanwhile.
    assert not [line for line in after if re.match(r"\d\d:\d\d:\d\d \w+ (restarted|\(pid)", line)]
    assert not [pid for pid in children if alive(pid)]


async def test_a_sqlite_file_gone_bad_under_the_api_is_named_and_the_api_restarted_once_fixed(
    tmp_path,
):
    """A truncated -shm file faults the API with SIGBUS on its next read; while the database
    is read-only the API is not started again, and the reason is logged; then it is."""
    up = await Up.launch(tmp_path / "data")
    try:
        await up.until_up(None)
        database = tmp_path / "data" / "contingency.db"
        async with up.http() as http:
            await in_the_ledger(http, await report(http))  # the API's connection maps the -shm
            api = up.child("api")
            mark = len(up.lines)
            os.truncate(database.with_name("contingency.db-shm"), 0)
            with read_only(database):
                with pytest.raises(httpx.TransportError):
                    await http.get("/v1/incidents")
                await up.line(rf"api \(pid {api}\) was killed by SIGBUS \(a bus error", after=mark)
                await up.line(
                    rf"api not restarted: the SQLite database: {re.escape(str(database))} is not "
                    "readable and writable by this user .*; checking again in 2 s",
                    after=mark,
                )
            await up.line(r"api restarted \(pid \d+, restart 1\)", after=mark)
            await ready(http)
            assert (await http.get("/v1/incidents")).status_code == 200
    finally:
        code = await up.stop(signal.SIGTERM)
    assert code == 0, up.output


@pytest.mark.parametrize(
    "case", ["read-only data dir", "missing directory", "not a database", "postgresql silent"]
)
async def test_up_refuses_a_database_it_cannot_use_before_starting_anything(case, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url, problem = {
        "read-only data dir": (
            None,
            f"the directory {data_dir} of the SQLite database is not writable by this user",
        ),
        "missing directory": (
            f"sqlite+aiosqlite:///{tmp_path}/gone/x.db",
            f"the directory {tmp_path}/gone of the SQLite database x.db does not exist",
        ),
        "not a database": (
            f"sqlite+aiosqlite:///{tmp_path}/notes.txt",
            f"{tmp_path}/notes.txt is not a SQLite database (it starts with b'minutes ')",
        ),
        "postgresql silent": (
            f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test",
            "cannot connect to postgresql at 127.0.0.1:",
        ),
    }[case]
    (tmp_path / "notes.txt").write_text("minutes of the crisis cell")
    if case == "read-only data dir":
        with read_only(data_dir):
            up = await Up.launch(data_dir, url)
            code = await _exit_of(up)
    else:
        up = await Up.launch(data_dir, url)
        code = await _exit_of(up)
    assert code == 1, up.output
    assert f"error: pre-flight: {problem}" in up.output
    assert "nothing was started" in up.output
    assert "migrating" not in up.output and "Temporal Server" not in up.output


async def _exit_of(up: Up) -> int:
    code = await asyncio.wait_for(up.process.wait(), 60)
    assert up.reader is not None
    await asyncio.wait_for(up.reader, 30)
    return code
