"""One structured line per request, and the request's incident on every line logged meanwhile.

The incident comes from the path (``/v1/incidents/{id}/...``, ``/board/incidents/{id}``), so
handlers need not bind it themselves; the query string is never logged (a board kiosk URL may
carry ``?token=``), and neither is any header.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import route_of
from foundation.ids import workflow_id_for
from foundation.log_context import ids_for

log = structlog.get_logger("api.request")

INCIDENT_PATH = re.compile(r"^/(?:v1|board)/incidents/([A-Za-z0-9][A-Za-z0-9._-]{0,99})(?:/|$)")
QUIET = frozenset({"/healthz", "/readyz", "/metrics", "/board/incidents.json"})


def incident_ids(path: str) -> dict[str, str]:
    match = INCIDENT_PATH.match(path)
    return ids_for(workflow_id_for(match.group(1))) if match else {}


class RequestLogContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        bound = {
            "request_id": uuid.uuid4().hex[:12],
            "method": scope.get("method", "GET"),
            "path": path,
            **incident_ids(path),
        }
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        # bound_contextvars restores the previous bindings: an in-process client (tests) runs the
        # request in its own task, and must not inherit this request's incident.
        with structlog.contextvars.bound_contextvars(**bound):
            try:
                await self.app(scope, receive, send_status)
            finally:
                if path not in QUIET:
                    log.info(
                        "api.request",
                        status=status,
                        route=route_of(scope),
                        ms=round((time.perf_counter() - started) * 1000, 1),
                    )
