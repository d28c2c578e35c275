"""One ``configure_logging()`` for structlog and the standard library alike.

Temporal's own loggers and ``workflow.logger`` write through the standard library; routing them
through structlog's formatter gives one format, JSON in production and coloured console locally.
"""

from __future__ import annotations

import io
import logging
import sys
from typing import Any, Literal

import structlog

from foundation.characters import escape_unsafe
from foundation.log_context import lift_temporal_ids, scrub_secrets

_SECRET_KEYS = {
    "authorization",
    "token",
    "bearer",
    "secret",
    "password",
    "api_key",
    "webhook_secret",
}


def _drop_secrets(_logger: object, _name: str, event: dict) -> dict:
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "[redacted]"
    return event


# Multi-line by nature; every other value is one line, so a newline in it cannot forge a line.
_MULTILINE_KEYS = ("exception", "stack")


def _escape_controls(_logger: object, _name: str, event: dict) -> dict:
    """The console prints values as they are: a raw ESC in a submitted label would drive the
    operator's terminal, a newline forge a log line. JSON needs none of this: ``json.dumps``
    escapes every control (and, ASCII-only, every bidi override)."""
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = escape_unsafe(value, keep="\n" if key in _MULTILINE_KEYS else "")
    return event


def _escaped_traceback(sio: Any, exc_info: Any) -> None:
    # A traceback's messages may quote submitted text too; its line breaks are its own.
    buffer = io.StringIO()
    structlog.dev.plain_traceback(buffer, exc_info)
    sio.write(escape_unsafe(buffer.getvalue(), keep="\n"))


def configure_logging(
    fmt: Literal["console", "json"] = "console", level: str | int = "INFO"
) -> None:
    shared: list = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
        lift_temporal_ids,
        scrub_secrets,
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # plain tracebacks: rich's pretty ones touch os.path, which the workflow sandbox forbids
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=_escaped_traceback
        )
    )
    structlog.configure(
        # Below the level, an event is dropped before any processor runs (a sweep's worker logs
        # at ERROR: its thousand INFO lines a minute cost nothing).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([structlog.processors.format_exc_info] if fmt == "json" else [_escape_controls]),
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if isinstance(level, int) else level.upper())
    # uvicorn installs handlers of its own (its access log prints query strings as they came):
    # route its lines through this one formatter, where secrets are masked.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("aiosqlite", "asyncio", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
