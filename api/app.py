"""The FastAPI application: ``create_app`` for tests and embedding (inject a Temporal client and
a session factory), ``create_app_from_env`` for uvicorn (``--factory``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api import metrics as api_metrics
from api.context import ApiContext, Clock, wall_clock
from api.errors import MAX_BODY_BYTES, BodySizeLimit, install_error_handlers
from api.metrics import RequestMetrics
from api.ratelimit import TokenBuckets, limit_intake
from api.request_log import RequestLogContext
from api.routers import board, health, incidents, ledger_audit, plans, replies, violations
from api.slow_clients import BodyReadTimeout
from db.session import create_engine, session_factory
from db.transactions import AsyncDriverTransactions, transactions_for
from foundation.logging import configure_logging
from foundation.settings import Settings
from foundation.temporal import connect
from foundation.tracing import instrument_api, provider_for

log = structlog.get_logger(__name__)

DESCRIPTION = """\
Report ceasefire violations and act on the incidents they open under the allied contingency plan.

Every request needs `Authorization: Bearer <token>` (create tokens with `contingency tokens add`).
Errors are JSON: `{"status", "code", "message", "field", "errors"}`, `field` naming what to fix.
"""

CONNECT_ATTEMPTS = 30


async def _connect(settings: Settings) -> Client:
    """Connect, waiting a little for a Temporal server that is still starting."""
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return await connect(settings)
        except Exception as exc:  # RuntimeError or RPCError, depending on the failure
            if attempt == CONNECT_ATTEMPTS:
                raise
            log.warning(
                "api.temporal_unreachable",
                address=settings.temporal_address,
                error=str(exc),
                attempt=attempt,
            )
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


def create_app(
    settings: Settings | None = None,
    *,
    client: Client | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    clock: Clock = wall_clock,
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "context", None) is not None:
            yield  # dependencies were injected
            return
        engine = create_engine(settings.database_url)
        temporal = client or await _connect(settings)
        transactions = transactions_for(engine)
        app.state.context = ApiContext(
            settings=settings,
            client=temporal,
            sessions=sessions or session_factory(engine),
            transactions=transactions,
            clock=clock,
        )
        log.info("api.started", temporal=settings.temporal_address, task_queue=settings.task_queue)
        try:
            yield
        finally:
            await transactions.close()
            await engine.dispose()

    app = FastAPI(
        title="Contingency-response engine",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    if client is not None and sessions is not None:
        # Injected (tests): the writes go through the sessions' own async engine, which the
        # caller owns and disposes of; there is no writer thread to close.
        app.state.context = ApiContext(
            settings=settings,
            client=client,
            sessions=sessions,
            transactions=AsyncDriverTransactions(sessions.kw["bind"]),
            clock=clock,
        )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(BodyReadTimeout, seconds=settings.api_body_timeout_seconds)
    app.state.intake_limiter = TokenBuckets(settings.intake_rate_per_minute, settings.intake_burst)
    app.state.write_limiter = TokenBuckets(settings.write_rate_per_minute, settings.write_burst)
    app.state.sign_in_limiter = TokenBuckets(
        settings.sign_in_rate_per_minute, settings.sign_in_burst
    )
    app.include_router(violations.router, dependencies=[Depends(limit_intake)])
    for module in (incidents, plans, health, ledger_audit, replies):
        app.include_router(module.router)
    app.include_router(api_metrics.router, include_in_schema=False)
    board.install(app)
    # Outermost: every request is counted and logged, refusals included.
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestLogContext)
    instrument_api(app, provider_for(settings.tracing_export))
    if settings.time_scale != 1:
        log.warning(
            "api.compressed_plan_clock",
            time_scale=settings.time_scale,
            note="for test and exercise deployments only",
        )
    return app


def create_app_from_env() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
