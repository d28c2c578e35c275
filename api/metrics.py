"""The API's request metrics and ``GET /metrics`` (Prometheus text format, unauthenticated).

Requests are labelled by route template (``/v1/incidents/{incident_id}``), never by the raw path,
so an incident id or a scanner's junk URLs cannot blow up the number of series. The endpoint
shows counts and latencies only: no incident data, no tokens.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from prometheus_client.registry import REGISTRY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.routes import StrictRoute

REQUESTS = Counter(
    "contingency_api_requests",
    "API requests answered, by route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "contingency_api_request_seconds",
    "API request latency, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

UNMATCHED = "unmatched"
# Long-lived responses (the board's event stream) would skew the latency histogram.
NOT_TIMED = frozenset({"/board/events"})

router = APIRouter(tags=["health"], route_class=StrictRoute)


@router.get(
    "/metrics",
    summary="Prometheus metrics: request counts and latencies (and the engine's, in-process)",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}
    },
)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware (no response buffering, so streams stay streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_of(scope)
            method = scope.get("method", "GET")
            REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            if route not in NOT_TIMED:
                LATENCY.labels(method=method, route=route).observe(time.perf_counter() - started)
