"""The API in-process over real HTTP semantics (httpx + ASGI), on a real Temporal server and the
real database (SQLite and PostgreSQL), with a token of every role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.app import create_app
from api.context import Clock, wall_clock
from db.tokens import create_token
from foundation.settings import Settings
from tests.serving import serve_asgi

ROLES = ("reporter", "observer", "operator", "ally:uk", "ally:us", "ally:pl", "ally:fr")


@dataclass(frozen=True)
class Tokens:
    """One token per role; ``names[role]`` is the actor the ledger records for it."""

    secrets: dict[str, str]
    names: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secrets[role]}"}


@pytest.fixture
async def tokens(sessions: async_sessionmaker[AsyncSession]) -> Tokens:
    suffix = uuid.uuid4().hex[:6]
    secrets, names = {}, {}
    for role in ROLES:
        name = f"{role.replace(':', '-')}-{suffix}"
        secrets[role] = (await create_token(sessions, name, role)).secret
        names[role] = name
    return Tokens(secrets, names)


ApiFactory = Callable[..., "asynccontextmanager[httpx.AsyncClient]"]


@pytest.fixture
def api(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> ApiFactory:
    """``async with api(client, clock=...) as http:`` — an HTTP client for an app on this test's
    task queue and database."""

    @asynccontextmanager
    async def _api(client: Client, clock: Clock = wall_clock) -> AsyncIterator[httpx.AsyncClient]:
        app: FastAPI = create_app(settings, client=client, sessions=sessions, clock=clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield http

    return _api


@pytest.fixture
def serve_api(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> Callable[[Client], asynccontextmanager[str]]:
    """``async with serve_api(client) as url:`` — the API on a free port of 127.0.0.1."""

    @asynccontextmanager
    async def _serve(client: Client) -> AsyncIterator[str]:
        async with serve_asgi(create_app(settings, client=client, sessions=sessions)) as url:
            yield url

    return _serve


def report(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "report_id": f"rep-{uuid.uuid4().hex}",
        "kind": "large_scale_offensive",
        "sector": "Zaporizhzhia",
        "reported_by": "ua-general-staff",
        "summary": "armoured columns crossing the contact line",
    }
    body.update(overrides)
    return body
