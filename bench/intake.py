"""Benchmark 2: ``POST /v1/violations`` on loopback, against a bare loop of ``start_workflow``.

The API runs as in production, uvicorn in a process of its own (``api.app:create_app_from_env``)
over a migrated SQLite ledger and the dev server; the load comes from this process: a fixed
number of concurrent clients, each posting distinct reports back to back on a keep-alive
connection of its own (``bench/http_load.py``: a lean client, so that the load generator takes
as little CPU as it can from the API on a 2-core machine). The baseline is the
same number of concurrent ``client.start_workflow`` calls from this process, no HTTP, no
database, no validation. No worker runs in either case: intake is measured, not the response.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench import harness
from bench.bare import BareInput, BareWorkflow
from bench.http_load import KeepAliveClient
from bench.report import Result, ratio
from db.session import create_engine, session_factory
from workflows.servers import start_dev_server

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _token(url: str) -> str:
    from db.tokens import create_token

    engine = create_engine(url)
    try:
        return (
            await create_token(session_factory(engine), f"bench-{uuid.uuid4().hex[:6]}", "reporter")
        ).secret
    finally:
        await engine.dispose()


def _serve_api(address: str, database_url: str, queue: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "DATABASE_URL": database_url,
        "CONTINGENCY_TASK_QUEUE": queue,
        "CONTINGENCY_LOG_LEVEL": "WARNING",
        # The per-token intake limit protects production from a runaway client; the benchmark is one.
        "CONTINGENCY_INTAKE_RATE_PER_MINUTE": "100000000",
        "CONTINGENCY_INTAKE_BURST": "100000000",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )


async def _ready(http: httpx.AsyncClient, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API process exited with {proc.returncode}")
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("the API did not answer /healthz")


async def _load(
    n: int, concurrency: int, call: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Wall seconds and per-call latencies for ``n`` calls from ``concurrency`` clients."""
    latencies: list[float] = []
    todo = iter(range(n))

    async def client() -> None:
        for i in todo:
            started = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def _pct(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


async def run(quick: bool, reports: int | None = None, concurrency: int = 32) -> Result:
    n = reports or (200 if quick else 2000)
    result = Result(
        "intake",
        "Intake: POST /v1/violations on loopback vs bare start_workflow",
        params={"reports": n, "concurrency": concurrency},
    )
    env = await start_dev_server()
    address = env.client.service_client.config.target_host
    queue = harness.task_queue("intake")
    run_id = uuid.uuid4().hex[:6]
    errors: list[str] = []
    try:
        async with harness.temp_sqlite() as url:
            token = await _token(url)
            port = _free_port()
            proc = _serve_api(address, url, queue, port)
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", timeout=60
                ) as http:
                    await _ready(http, proc)
                headers = {"Authorization": f"Bearer {token}"}
                clients = [KeepAliveClient("127.0.0.1", port, headers) for _ in range(concurrency)]
                free = asyncio.Queue[KeepAliveClient]()
                for c in clients:
                    free.put_nowait(c)

                async def post(i: int) -> None:
                    body = {
                        "report_id": f"bench-{run_id}-{i}",
                        "kind": "large_scale_offensive",
                        "sector": f"sector-{i % 97}",
                        "reported_by": "observer-mission",
                        "summary": "armoured columns crossing the line of contact",
                    }
                    client = await free.get()
                    try:
                        status, content = await client.post_json("/v1/violations", body)
                    finally:
                        free.put_nowait(client)
                    if status != 202:
                        errors.append(f"{status} {content[:200].decode(errors='replace')}")

                try:
                    await _load(
                        min(50, n), concurrency, lambda i: post(n + i)
                    )  # warm-up, distinct ids
                    api_s, api_lat = await _load(n, concurrency, post)
                finally:
                    await asyncio.gather(*(c.close() for c in clients))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)

        bare_queue = harness.task_queue("intake-bare")

        async def start(i: int) -> None:
            await env.client.start_workflow(
                BareWorkflow.run, BareInput(), id=f"{bare_queue}-{i}", task_queue=bare_queue
            )

        await _load(min(50, n), concurrency, lambda i: start(n + i))
        bare_s, bare_lat = await _load(n, concurrency, start)
    finally:
        await env.shutdown()

    api_rate, bare_rate = n / api_s, n / bare_s
    result.add(
        "throughput",
        round(api_rate, 1),
        "reports/s",
        baseline=round(bare_rate, 1),
        ratio=ratio(api_rate, bare_rate),
        target=">= 0.7",
    )
    result.add(
        "latency p50",
        round(_pct(api_lat, 50) * 1000, 1),
        "ms",
        baseline=round(_pct(bare_lat, 50) * 1000, 1),
    )
    p99 = _pct(api_lat, 99) * 1000
    result.add(
        "latency p99",
        round(p99, 1),
        "ms",
        baseline=round(_pct(bare_lat, 99) * 1000, 1),
        target="<= 100",
    )
    result.add("rejected or failed posts", len(errors), target="<= 0")
    if errors:
        result.notes.append(f"first failure: {errors[0]}")
    result.notes.append(
        "ratio = API / bare throughput (higher is better); the p99 target applies to the API figure"
    )
    return result
