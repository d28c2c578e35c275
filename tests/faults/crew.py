"""The crisis cell of a fault test: reports the incidents and sends every later input through
the API at its plan time, retrying through faults exactly as a careful client does: the same
``report_id``, the same ``Idempotency-Key``, until an answer comes back or the deadline passes."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.faults.scripts import Input, Script

RETRY_PAUSE = 0.5
REQUEST_TIMEOUT = 120.0  # an update answers once it is in the ledger, which may be down


@dataclass
class Sent:
    input: Input
    status: int
    attempts: int
    answer: dict[str, Any]


@dataclass
class IncidentRun:
    script: Script
    incident_id: str = ""
    workflow_id: str = ""
    sent: list[Sent] = field(default_factory=list)


@dataclass
class Crew:
    api_url: Callable[[], str]  # the API may move between restarts
    secrets: dict[str, str]  # role -> token secret
    time_scale: float
    deadline: float  # time.monotonic() after which nothing is retried any more
    requests: int = 0
    retries: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # what the retries were answering
    in_flight: int = 0
    expected_reports: int = 20
    reported: int = 0
    all_reported: asyncio.Event = field(default_factory=asyncio.Event)

    async def request(
        self, method: str, path: str, role: str, body: dict[str, Any], key: str | None = None
    ) -> tuple[int, dict[str, Any], int]:
        headers = {"Authorization": f"Bearer {self.secrets[role]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        attempts = 0
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
            while True:
                attempts += 1
                self.requests += 1
                self.in_flight += 1
                try:
                    response = await http.request(
                        method, self.api_url() + path, json=body, headers=headers
                    )
                except httpx.HTTPError as exc:
                    reason = type(exc).__name__
                else:
                    if response.status_code < 500 and response.status_code != 429:
                        return response.status_code, response.json(), attempts
                    reason = f"HTTP {response.status_code}"
                finally:
                    self.in_flight -= 1
                self.failures[reason] += 1
                self.retries += 1
                if time.monotonic() > self.deadline:
                    raise AssertionError(f"{method} {path} still failing at the deadline: {reason}")
                await asyncio.sleep(RETRY_PAUSE)

    async def run(self, script: Script) -> IncidentRun:
        run = IncidentRun(script)
        status, answer, _ = await self.request("POST", "/v1/violations", "reporter", script.report)
        assert status in (200, 202), (
            f"report {script.report['report_id']} refused: {status} {answer}"
        )
        run.incident_id, run.workflow_id = answer["incident_id"], answer["workflow_id"]
        self.reported += 1
        if self.reported == self.expected_reports:
            self.all_reported.set()  # faults aimed at running incidents wait for this
        t0 = datetime.fromisoformat(answer["observed_at"])
        for index, item in enumerate(script.inputs):
            due = t0 + timedelta(hours=item.hours / self.time_scale)
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            key = f"{script.report['report_id']}-{index}"
            path = f"/v1/incidents/{run.incident_id}/{item.path}"
            status, answer, attempts = await self.request("POST", path, item.role, item.body, key)
            run.sent.append(Sent(item, status, attempts, answer))
        return run
