"""Bare Temporal for the notices benchmark: a timer fires, then one activity posts to a
receiver. What Temporal itself costs between a deadline and a message arriving."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow


@dataclass(frozen=True)
class PostAt:
    url: str
    after_s: float


@activity.defn(name="bench_post")
async def bench_post(target: PostAt) -> None:
    import httpx  # the activity's, not the workflow sandbox's

    async with httpx.AsyncClient() as client:
        await client.post(target.url, json={"title": "bare", "message": "bare"})


@workflow.defn(name="BenchTimerThenPost")
class TimerThenPost:
    @workflow.run
    async def run(self, target: PostAt) -> None:
        await workflow.sleep(timedelta(seconds=target.after_s))
        await workflow.execute_activity(
            bench_post, target, start_to_close_timeout=timedelta(seconds=10)
        )
