"""The API served over a real socket (uvicorn in the test's event loop), for the CLI to call."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from typer.testing import CliRunner, Result

from api.app import create_app
from contingency.cli.main import app as cli_app
from contingency.settings import Settings

from tests.api.conftest import tokens  # noqa: F401 (a token of every role, shared with the API tests)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve_api(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Callable[[Client], "asynccontextmanager[str]"]:
    """``async with serve_api(client) as url:`` — the API on a free port of 127.0.0.1."""

    @asynccontextmanager
    async def _serve(client: Client) -> AsyncIterator[str]:
        port = free_port()
        app = create_app(settings, client=client, sessions=sessions)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task

    return _serve


async def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run a CLI command in a thread, so the API in this event loop can answer it."""
    return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args), env=env)
