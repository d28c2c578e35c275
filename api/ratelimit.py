"""Rate limiting of every write, per API token: a token bucket per principal.

A report opens an incident and starts a workflow, and every evidence, commitment or decision is
an update in the incident's history, so a runaway script or a leaked token must not flood the
engine. Each token may send ``burst`` reports at once, refilled at ``rate_per_minute``; the
submissions to incidents have a budget of their own, and board sign-ins one per client address
(a guard against guessing tokens). Beyond it: ``429`` with ``Retry-After`` (seconds).

The buckets live in the API process: with several API processes behind a balancer, each allows
its own share. The limit is a guard against floods, not an accounting of reports.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from api.auth import current_principal
from db.tokens import Principal


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """``take(key)``: 0 when the request may go ahead, else the seconds until it may."""

    def __init__(
        self, rate_per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be positive and burst at least 1")
        self.rate = rate_per_minute / 60.0  # tokens per second
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


class RateLimited(HTTPException):
    """Answered by the API's HTTP-exception handler as ``{"status": 429, "code": "rate_limited"}``."""

    field = "Authorization"

    def __init__(
        self,
        retry_after: float,
        rate_per_minute: float,
        what: str = "this token may report {rate} violations a minute",
    ) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            429,
            f"Authorization: {what.format(rate=f'{rate_per_minute:g}')}; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


def intake_limiter(request: Request) -> TokenBuckets:
    limiter: TokenBuckets | None = getattr(request.app.state, "intake_limiter", None)
    if limiter is None:  # an app assembled without create_app: no limit configured
        limiter = request.app.state.intake_limiter = TokenBuckets(120, 120)
    return limiter


async def limit_intake(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> None:
    """A router dependency: authentication first (cached for the request), then the bucket."""
    limiter = intake_limiter(request)
    wait = limiter.take(principal.name)
    if wait > 0:
        raise RateLimited(wait, limiter.rate * 60)


def _limiter(request: Request, name: str) -> TokenBuckets:
    limiter: TokenBuckets | None = getattr(request.app.state, name, None)
    if limiter is None:  # an app assembled without create_app: the defaults
        limiter = TokenBuckets(120, 60)
        setattr(request.app.state, name, limiter)
    return limiter


async def limit_writes(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> None:
    """A route dependency of evidence, commitments and decisions."""
    limiter = _limiter(request, "write_limiter")
    wait = limiter.take(principal.name)
    if wait > 0:
        raise RateLimited(
            wait, limiter.rate * 60, "this token may submit {rate} inputs to incidents a minute"
        )


def limit_sign_in(request: Request) -> None:
    """Board sign-ins, per client address: the token is what is being tried."""
    limiter = _limiter(request, "sign_in_limiter")
    wait = limiter.take(request.client.host if request.client else "unknown")
    if wait > 0:
        raise RateLimited(
            wait, limiter.rate * 60, "this address may try {rate} board sign-ins a minute"
        )
