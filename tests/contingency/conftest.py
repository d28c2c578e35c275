"""Running CLI commands against the API served on a real socket."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner, Result

from contingency.cli.main import app as cli_app

# A token of every role and the API on a socket, shared with the API tests.
from tests.api.conftest import serve_api, tokens  # noqa: F401


async def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run a CLI command in a thread, so the API in this event loop can answer it."""
    return await asyncio.to_thread(CliRunner().invoke, cli_app, list(args), env=env)
