"""Sending an update to (or querying) an incident: the one client-side path (the API, the
exercises, the tests), retrying while a run hands over to the next.

A run about to continue as new refuses new updates with ``CONTINUING_ERROR`` for the moment it
drains, and the server aborts updates it had admitted but not yet delivered ("workflow update
was aborted", UNAVAILABLE) and clears buffered queries as the run closes; the next run takes
them all. Retrying with the same update id is safe: Temporal runs an update id once per run,
and a refused or aborted update never reached the history.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from workflows.names import CONTINUING_ERROR

# A hand-over takes well under a second unless steps are in flight (then up to ~10 s) or the
# ledger is behind; past this, the caller is told to retry later.
RETRY_FOR_S = 30.0


class StillContinuing(Exception):
    """The incident kept refusing as it handed over, for longer than the caller waits."""


def is_continuing(exc: BaseException) -> bool:
    cause = exc.cause if isinstance(exc, WorkflowUpdateFailedError) else exc
    return isinstance(cause, ApplicationError) and cause.type == CONTINUING_ERROR


async def execute_update(
    handle: WorkflowHandle[Any, Any],
    update: Any,
    argument: Any,
    *,
    id: str | None = None,
    retry_for_s: float = RETRY_FOR_S,
    result_type: type | None = None,
) -> Any:
    deadline = time.monotonic() + retry_for_s
    pause = 0.05
    while True:
        try:
            return await handle.execute_update(update, argument, id=id, result_type=result_type)
        except WorkflowUpdateFailedError as exc:
            if not is_continuing(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise StillContinuing(str(exc.cause)) from exc
        except RPCError as exc:
            if exc.status is not RPCStatusCode.UNAVAILABLE or time.monotonic() + pause > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)


# A query that reaches a run in its last workflow task (the one that continues as new) is left
# buffered on the closed run until the server's long poll expires, 20 s later; asked again, it
# reaches the next run at once. So no attempt waits longer than this, and the query is retried
# within the caller's budget.
QUERY_ATTEMPT_S = 2.5
QUERY_BUDGET_S = 20.0
# The SDK reports its own per-attempt timeout as CANCELLED ("Timeout expired"); the server's
# as DEADLINE_EXCEEDED.
RETRIED_QUERY = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
)


async def query(
    handle: WorkflowHandle[Any, Any],
    query_def: Any,
    *,
    rpc_timeout: timedelta | None = None,
    **kwargs: Any,
) -> Any:
    """A query, asked again (within ``rpc_timeout``, else QUERY_BUDGET_S) when a hand-over
    cleared it (UNAVAILABLE) or an attempt went unanswered (the run it reached closed)."""
    budget = rpc_timeout.total_seconds() if rpc_timeout is not None else QUERY_BUDGET_S
    deadline = time.monotonic() + budget
    pause = 0.05
    while True:
        attempt = max(0.05, min(QUERY_ATTEMPT_S, deadline - time.monotonic()))
        try:
            return await handle.query(query_def, rpc_timeout=timedelta(seconds=attempt), **kwargs)
        except RPCError as exc:
            if exc.status not in RETRIED_QUERY or time.monotonic() + pause > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)
