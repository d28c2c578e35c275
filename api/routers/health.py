"""Liveness and readiness, unauthenticated, for process supervisors and load balancers."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from api.context import ApiContext, get_context
from api.routes import StrictRoute
from db.preflight import check_sqlite_file, sqlite_path

router = APIRouter(tags=["health"], route_class=StrictRoute)

CHECK_TIMEOUT = 5.0


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    temporal: str
    database: str


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


async def _temporal(context: ApiContext) -> str:
    try:
        await asyncio.wait_for(context.client.service_client.check_health(), CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 (any failure means not ready)
        return f"unreachable: {type(exc).__name__}"
    return "ok"


def _database_url(context: ApiContext) -> str:
    """The URL of the engine the API reads through (tests may inject another than the settings')."""
    bind = context.sessions.kw.get("bind")
    if bind is not None:
        return bind.url.render_as_string(hide_password=False)
    return context.settings.database_url


async def _database(context: ApiContext) -> str:
    # A SQLite file gone read-only or missing is named without opening it: a connection to it
    # could fault the API itself (SIGBUS).
    path = sqlite_path(_database_url(context))
    if path is not None:
        problem = await asyncio.to_thread(
            check_sqlite_file, path, must_exist=True, read_header=False
        )
        if problem:
            return f"not usable: {problem}"
    try:
        async with context.sessions() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        # SQLite says so itself; the check above may not read the file (db/preflight.py).
        if path is not None and "file is not a database" in str(exc):
            return f"not usable: {path.absolute()} is not a SQLite database"
        return f"unreachable: {type(exc).__name__}"
    return "ok"


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {
            "model": Readiness,
            "description": "Temporal or the database is unreachable, or the SQLite file not usable",
        }
    },
    summary="Readiness: Temporal and the database are reachable",
)
async def readyz(context: Annotated[ApiContext, Depends(get_context)]) -> JSONResponse:
    temporal, database = await asyncio.gather(_temporal(context), _database(context))
    ready = temporal == "ok" and database == "ok"
    body = Readiness(status="ready" if ready else "not ready", temporal=temporal, database=database)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
