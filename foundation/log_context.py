"""Which incident a log line is about, on every line, and no secret on any.

- Activities: :class:`ActivityLogContext` (a worker interceptor) binds ``incident_id``,
  ``workflow_id``, ``run_id`` and the activity's name into structlog's context variables for the
  duration of each activity, so every line an activity or the code it calls logs carries them.
- Workflows and the SDK: ``workflow.logger`` and ``activity.logger`` attach the execution's
  details to the standard-library record; :func:`lift_temporal_ids` copies them into the event.
- The API binds the incident from the request path (``api/request_log.py``).
- :func:`scrub_secrets` masks bearer tokens and ``token=`` query values anywhere in a line, in
  case a message or an access log embeds one.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

import structlog
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from foundation.ids import incident_id_from_workflow_id

IDS = ("incident_id", "workflow_id", "run_id")


def ids_for(workflow_id: str | None, run_id: str | None = None) -> dict[str, str]:
    """``incident_id``/``workflow_id``/``run_id`` for an execution (incident_id only for incidents)."""
    ids: dict[str, str] = {}
    if workflow_id:
        ids["workflow_id"] = workflow_id
        incident_id = incident_id_from_workflow_id(workflow_id)
        if incident_id is not None:
            ids["incident_id"] = incident_id
    if run_id:
        ids["run_id"] = run_id
    return ids


class _BindActivityIds(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        bound = {
            **ids_for(info.workflow_id, info.workflow_run_id),
            "activity": info.activity_type,
            "attempt": info.attempt,
        }
        # Activities run as their own asyncio tasks, so these bindings stay with this activity.
        structlog.contextvars.bind_contextvars(**bound)
        try:
            return await super().execute_activity(input)
        finally:
            structlog.contextvars.unbind_contextvars(*bound)


class ActivityLogContext(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityIds(next)


def lift_temporal_ids(_logger: object, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the ids the SDK's loggers put on a record, as top-level keys."""
    record = event.get("_record")
    details = getattr(record, "temporal_workflow", None) or getattr(
        record, "temporal_activity", None
    )
    if isinstance(details, dict):
        for key, value in ids_for(
            details.get("workflow_id"), details.get("run_id") or details.get("workflow_run_id")
        ).items():
            event.setdefault(key, value)
    return event


_SECRET_PATTERNS = (
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"(?i)([?&;]token=)[^&\s\"']+"), r"\1[redacted]"),
    # API secrets look like ct_<43 url-safe characters> wherever they turn up.
    (re.compile(r"\bct_[A-Za-z0-9_-]{20,}"), "[redacted]"),
)


# A query string in a logged URL or request line, up to the first space or quote.
_QUERY = re.compile(r"\?([^\s\"']+)")
_SECRET_KEYS = frozenset({"token", "access_token"})


def _scrub_query(match: re.Match[str]) -> str:
    """Judge each parameter by its decoded name and value (``?%74oken=`` is ``?token=`` to the
    server), and mask the raw value: what is logged stays as received, the secret aside."""
    pairs = []
    for pair in re.split(r"([&;])", match.group(1)):
        key, equals, value = pair.partition("=")
        if equals and (
            unquote_plus(key).strip().lower() in _SECRET_KEYS
            or unquote_plus(value) != scrub_plain(unquote_plus(value))
        ):
            value = "[redacted]"
        pairs.append(f"{key}{equals}{value}")
    return "?" + "".join(pairs)


def scrub_plain(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub(text: str) -> str:
    return scrub_plain(_QUERY.sub(_scrub_query, text))


def scrub_secrets(_logger: object, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask secrets embedded in string values (a standard-library record's
    message arrives here already formatted, uvicorn's access-log request line included)."""
    for key, value in list(event.items()):
        if isinstance(value, str):
            event[key] = scrub(value)
    return event
