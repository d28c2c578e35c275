"""A merge's handover: the absorbed incident's content, given to the incident that absorbs it.

The update's id is derived from the merge (the absorbed incident and its merge decision), so an
activity retried after a lost answer reaches the same update and Temporal answers it once; an
absorbing incident that took the handover in an earlier run answers a second one without
taking it again (it knows the incidents it absorbed).
"""

from __future__ import annotations

import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from foundation.ids import workflow_id_for
from workflows.messages import MergeHandover, MergeResult
from workflows.names import ACTIVITY_HAND_OVER, MERGE_REFUSED, REFUSAL_ERROR, UPDATE_ABSORB
from workflows.updating import StillContinuing, execute_update

log = structlog.get_logger(__name__)


def handover_update_id(handover: MergeHandover) -> str:
    return f"merge:{handover.incident_id}:{handover.seq}"


def _refused(message: str, reason: str, field: str | None = "into") -> ApplicationError:
    """``reason``: the absorbing incident's (invalid, conflict), or unreachable."""
    return ApplicationError(
        message, {"field": field, "reason": reason}, type=MERGE_REFUSED, non_retryable=True
    )


class MergeActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name=ACTIVITY_HAND_OVER)
    async def hand_over_incident(self, handover: MergeHandover) -> MergeResult:
        bound = log.bind(incident_id=handover.incident_id, into=handover.into)
        handle = self._client.get_workflow_handle(workflow_id_for(handover.into))
        try:
            result: MergeResult = await execute_update(
                handle,
                UPDATE_ABSORB,
                handover,
                id=handover_update_id(handover),
                result_type=MergeResult,
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == REFUSAL_ERROR:
                detail = cause.details[0] if cause.details else {}
                bound.info("merge.refused", reason=cause.message)
                reason = str(detail.get("reason") or "conflict")
                raise _refused(cause.message, reason, detail.get("field") or "into") from None
            raise  # not the incident's refusal: tried again by the activity's policy
        except StillContinuing:
            raise  # the absorbing incident is handing over to its next run: tried again
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise _refused(
                    f"incident {handover.into} is not open (no running workflow)", "unreachable"
                ) from None
            raise
        bound.info("merge.handed_over", seq=result.seq, reports=result.reports)
        return result
