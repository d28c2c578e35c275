"""A workflow that sends one notice the way the incident workflow does (the same activity
name, timeout and retry policy), so a test sees Temporal's own retries of the notice."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.names import ACTIVITY_SEND_NOTICE
from workflows.notices import NoticeInput, NoticeResult

NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    backoff_coefficient=2,
)


@workflow.defn(sandboxed=False)
class SendOneNotice:
    @workflow.run
    async def run(self, notice: NoticeInput) -> NoticeResult:
        return await workflow.execute_activity(
            ACTIVITY_SEND_NOTICE,
            notice,
            result_type=NoticeResult,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=NOTICE_RETRY,
        )
