"""Slow clients cannot hold connections open: headers that trickle in, or a body that never
arrives, end in a 408 and a closed connection, with the API served as `contingency api` and
`contingency up` serve it (api/serving.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn

from api.app import create_app
from api.serving import uvicorn_config
from foundation.settings import Settings
from tests.api.test_auth_first import unreachable_temporal  # noqa: F401
from tests.serving import free_port

HEADERS_WITHIN = 0.6
BODY_WITHIN = 0.6


@pytest.fixture
def settings(database_url: str, task_queue: str) -> Settings:
    return Settings(
        database_url=database_url, task_queue=task_queue,
        api_header_timeout_seconds=HEADERS_WITHIN, api_body_timeout_seconds=BODY_WITHIN,
    )  # fmt: skip


@pytest.fixture
async def served(settings, sessions, unreachable_temporal) -> AsyncIterator[int]:  # noqa: F811
    app = create_app(settings, client=unreachable_temporal, sessions=sessions)
    port = free_port()
    server = uvicorn.Server(
        uvicorn_config(settings, app, host="127.0.0.1", port=port, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield port
    server.should_exit = True
    await task


async def answer_of(port: int, *parts: bytes, gap: float = 0.0) -> tuple[bytes, float]:
    """Send ``parts`` with ``gap`` seconds between them; what came back before the server closed
    the connection, and when (capped at 5 s: a server that never closes fails the test)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()

    async def trickle() -> None:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(gap)
        await asyncio.sleep(10)  # and then nothing more

    sending = asyncio.create_task(trickle())
    try:
        received = await asyncio.wait_for(reader.read(), 5)
    except TimeoutError:
        received = b"(still open)"
    finally:
        sending.cancel()
        writer.close()
    return received, time.perf_counter() - started


async def test_trickled_headers_get_408_and_the_connection_closes(served: int) -> None:
    slowly = [b"GET /healthz HTTP/1.1\r\nHost: api\r\n"] + [b"X-Slow: 1\r\n"] * 30
    received, took = await answer_of(served, *slowly, gap=0.1)
    assert received.startswith(b"HTTP/1.1 408"), received
    assert b'"field":"headers"' in received
    assert took < HEADERS_WITHIN + 1


async def test_a_silent_connection_is_closed(served: int) -> None:
    received, took = await answer_of(served)
    assert received.startswith(b"HTTP/1.1 408") and took < HEADERS_WITHIN + 1


async def test_a_body_that_never_arrives_gets_408(served: int, tokens) -> None:
    auth = tokens.auth("reporter")["Authorization"].encode()
    head = (
        b"POST /v1/violations HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
        b"Authorization: " + auth + b"\r\nContent-Length: 500\r\n\r\n"
    )
    received, took = await answer_of(served, head, b'{"report_id": "slow', gap=0.05)
    assert received.startswith(b"HTTP/1.1 408"), received
    assert b'"field":"body"' in received and b"not received within" in received
    assert took < BODY_WITHIN + 1


async def test_a_prompt_request_is_served(served: int) -> None:
    received, _ = await answer_of(
        served, b"GET /healthz HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n"
    )
    assert received.startswith(b"HTTP/1.1 200"), received
