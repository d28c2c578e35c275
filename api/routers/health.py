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


async def _database(context: ApiContext) -> str:
    try:
        async with context.sessions() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        return f"unreachable: {type(exc).__name__}"
    return "ok"


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Temporal or the database is unreachable"}},
    summary="Readiness: Temporal and the database are reachable",
)
async def readyz(context: Annotated[ApiContext, Depends(get_context)]) -> JSONResponse:
    temporal, database = await asyncio.gather(_temporal(context), _database(context))
    ready = temporal == "ok" and database == "ok"
    body = Readiness(status="ready" if ready else "not ready", temporal=temporal, database=database)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
