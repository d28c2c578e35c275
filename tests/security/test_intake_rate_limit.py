"""Intake is rate limited per token: a burst, then 429 with Retry-After, refilled over time;
other tokens are not affected, and other endpoints are not limited."""

from __future__ import annotations

import pytest

from api.ratelimit import TokenBuckets
from foundation.settings import Settings
from tests.api.conftest import report


def test_buckets_allow_a_burst_then_refill_at_the_rate():
    now = [0.0]
    buckets = TokenBuckets(rate_per_minute=6, burst=2, clock=lambda: now[0])  # one every 10 s
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(10.0)
    assert buckets.take("b") == 0.0  # per key
    now[0] = 4.0
    assert buckets.take("a") == pytest.approx(6.0)
    now[0] = 10.0
    assert buckets.take("a") == 0.0
    now[0] = 1000.0  # a long pause refills to the burst, not beyond
    assert [buckets.take("a") for _ in range(3)][-1] > 0


@pytest.fixture
def settings(database_url: str, task_queue: str) -> Settings:
    return Settings(
        database_url=database_url, task_queue=task_queue, intake_rate_per_minute=2, intake_burst=3
    )


async def test_a_fourth_report_in_a_row_is_429_with_retry_after(dev_env, run_worker, api, tokens):
    async with run_worker(dev_env.client), api(dev_env.client) as http:
        reporter, operator = tokens.auth("reporter"), tokens.auth("operator")
        for _ in range(3):
            assert (
                await http.post("/v1/violations", json=report(), headers=reporter)
            ).status_code == 202
        limited = await http.post("/v1/violations", json=report(), headers=reporter)
        assert limited.status_code == 429, limited.text
        body = limited.json()
        assert body["code"] == "rate_limited" and body["field"] == "Authorization"
        assert "2 violations a minute" in body["message"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 30
        # Another token has its own budget; reads are not limited.
        assert (
            await http.post("/v1/violations", json=report(), headers=operator)
        ).status_code == 202
        for _ in range(5):
            assert (await http.get("/v1/incidents", headers=reporter)).status_code == 200
        # A bad token is refused before it can spend anyone's budget.
        bad = await http.post(
            "/v1/violations", json=report(), headers={"Authorization": "Bearer ct_nope"}
        )
        assert bad.status_code == 401
