"""Sending the attack scripts from racing clients, and judging every answer against its
expectation.

A wrong answer is one its expectation does not allow: a 2xx for a NUL in a label, a 4xx for a
valid post, a refusal that is not the JSON error shape or does not name its field, a replay that
does not get the first receipt, two winners of a race that has one. Any 5xx is a failure of its
own, except a 503 or 429 with ``Retry-After`` (a documented "retry"), which the client retries
with the same request, as a client should, a few times before counting it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.security.attacks import BAD_TOKEN, INCIDENT, Call, Expect, Race, Script

RETRIES = 4  # answers with Retry-After retried this often before they count as final
RETRY_PAUSE_S = 2.0  # at most this long, whatever Retry-After asks: the run has a time box
EXAMPLES = 8  # wrong answers and failures kept in full for the summary


@dataclass
class Answer:
    call: Call
    status: int  # 0: no answer at all (the connection failed or timed out)
    body: Any
    text: str
    retry_after: str | None
    attempts: int


@dataclass
class Tally:
    calls: int = 0
    sent: int = 0  # HTTP requests, retries included
    by_class: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    wrong: int = 0
    failures: int = 0  # 5xx (but a retryable 503) and requests never answered
    retried: Counter[int] = field(default_factory=Counter)  # 503/429 answers retried
    retried_out: Counter[int] = field(default_factory=Counter)  # 503/429 still after RETRIES
    slowest: dict[str, float] = field(default_factory=dict)  # label -> longest answer, seconds
    wrong_examples: list[str] = field(default_factory=list)
    failure_examples: list[str] = field(default_factory=list)
    wrong_by_label: Counter[str] = field(default_factory=Counter)
    opened: set[str] = field(default_factory=set)  # incidents a report of this run opened

    def note_wrong(self, answer: Answer, why: str) -> None:
        self.wrong += 1
        self.wrong_by_label[answer.call.label] += 1
        if len(self.wrong_examples) < EXAMPLES:
            self.wrong_examples.append(describe(answer, why))

    def note_failure(self, answer: Answer, why: str) -> None:
        self.failures += 1
        if len(self.failure_examples) < EXAMPLES:
            self.failure_examples.append(describe(answer, why))


def describe(answer: Answer, why: str) -> str:
    call = answer.call
    query = "&".join(f"{k}={v}" for k, v in call.params)
    body = call.content() or b""
    shown = body[:160].decode(errors="replace") + ("…" if len(body) > 160 else "")
    return (
        f"[{call.label}] {call.method} {call.path}{'?' + query if query else ''} as {call.role}"
        f"{' key ' + call.idempotency_key if call.idempotency_key else ''} body {shown!r} -> "
        f"{answer.status} {answer.text[:240]!r}: {why}"
    )


def status_class(status: int) -> str:
    return "no answer" if status == 0 else f"{status // 100}xx"


# Checks of an accepted answer's content, by name (Call.check).
CHECKS: dict[str, Callable[[Any], str | None]] = {
    "window_closed": lambda body: (
        None
        if body.get("window_closed") is True and body.get("outcome")
        else "a report after its window must open an incident closed at intake"
    ),
    "real_id": lambda body: (
        "a real report was given an exercise id"
        if str(body.get("incident_id", "")).startswith("exercise-")
        else None
    ),
}
IDENTITY = ("incident_id", "update_id", "seq", "created")


class Attacker:
    """Runs scripts from ``clients`` concurrent HTTP clients, one script at a time each."""

    def __init__(
        self, base_url: str, tokens: dict[str, str], clients: int = 16, timeout: float = 90.0
    ) -> None:
        self.base_url = base_url
        self.tokens = tokens
        self.clients = clients
        self.timeout = timeout
        self.tally = Tally()

    async def run(self, scripts: list[Script]) -> Tally:
        queue: asyncio.Queue[Script] = asyncio.Queue()
        for script in scripts:
            queue.put_nowait(script)
        await asyncio.gather(*(self._client(queue) for _ in range(self.clients)))
        return self.tally

    async def _client(self, queue: asyncio.Queue[Script]) -> None:
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=limits
        ) as http:
            while not queue.empty():
                await self._script(http, queue.get_nowait())

    async def _script(self, http: httpx.AsyncClient, script: Script) -> None:
        memory: dict[str, Any] = {}
        incident = script.incident
        for step in script.steps:
            if isinstance(step, Race):
                answers = await asyncio.gather(
                    *(self._send(http, call, incident) for call in step.calls)
                )
                for answer in answers:
                    self._judge(answer, memory)
                won = sum(200 <= a.status < 300 for a in answers)
                if step.accepted is not None and won != step.accepted:
                    self.tally.note_wrong(
                        answers[0],
                        f"{won} of the racing calls succeeded; exactly {step.accepted} may",
                    )
                continue
            answer = await self._send(http, step, incident)
            self._judge(answer, memory)
            # The id the report was given is the one the rest of the script addresses.
            body = answer.body if isinstance(answer.body, dict) else {}
            if (
                step.path == "/v1/violations"
                and 200 <= answer.status < 300
                and body.get("incident_id")
            ):
                incident = body["incident_id"]
                if body.get("created"):
                    self.tally.opened.add(incident)

    def _request(self, call: Call, incident: str | None) -> httpx.Request:
        headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
        if call.role == BAD_TOKEN:
            headers["Authorization"] = "Bearer ctk_not-a-token-of-this-stack"
        elif call.role is not None:
            headers["Authorization"] = f"Bearer {self.tokens[call.role]}"
        if call.idempotency_key is not None:
            # As bytes: a hostile key may be UTF-8, which httpx would refuse to send as text.
            headers["Idempotency-Key"] = call.idempotency_key.encode()
        path = call.path.replace(INCIDENT, incident or "nowhere-00000000")
        return httpx.Request(
            call.method,
            self.base_url + path,
            params=list(call.params),
            headers=headers,
            content=call.content(),
        )

    async def _send(self, http: httpx.AsyncClient, call: Call, incident: str | None) -> Answer:
        self.tally.calls += 1
        attempts = 0
        while True:
            attempts += 1
            self.tally.sent += 1
            began = time.monotonic()
            try:
                response = await http.send(self._request(call, incident))
            except httpx.HTTPError as exc:
                return Answer(call, 0, None, f"{type(exc).__name__}: {exc}", None, attempts)
            took = time.monotonic() - began
            self.tally.slowest[call.label] = max(took, self.tally.slowest.get(call.label, 0.0))
            retry_after = response.headers.get("Retry-After")
            if response.status_code in (429, 503) and retry_after and attempts <= RETRIES:
                self.tally.retried[response.status_code] += 1
                try:
                    pause = min(float(retry_after), RETRY_PAUSE_S)
                except ValueError:
                    pause = RETRY_PAUSE_S
                await asyncio.sleep(pause)
                continue
            try:
                body = response.json()
            except ValueError:
                body = None
            return Answer(call, response.status_code, body, response.text, retry_after, attempts)

    def _judge(self, answer: Answer, memory: dict[str, Any]) -> None:
        call, status, tally = answer.call, answer.status, self.tally
        tally.by_class[status_class(status)] += 1
        tally.by_status[status] += 1
        if status == 0:
            tally.note_failure(answer, "no answer")
            return
        if status in (429, 503) and answer.retry_after:
            # Still "retry later" after the retries: allowed, counted, not a wrong answer.
            tally.retried_out[status] += 1
            return
        if status >= 500:
            tally.note_failure(answer, "a server error")
            return
        ok = 200 <= status < 300
        if call.expect is Expect.OK and not ok:
            tally.note_wrong(answer, "must be accepted")
            return
        if call.expect is Expect.REFUSED and ok:
            tally.note_wrong(answer, "must be refused")
            return
        if not ok:
            why = refusal_problem(answer)
            if why:
                tally.note_wrong(answer, why)
            return
        if call.same_as is not None and call.same_as in memory:
            first = memory[call.same_as]
            differ = [
                k
                for k in IDENTITY
                if k in first and k != "created" and answer.body.get(k) != first[k]
            ]
            if differ:
                tally.note_wrong(
                    answer, f"a replay must get the first answer ({', '.join(differ)} differ)"
                )
                return
        if call.check is not None:
            why = CHECKS[call.check](answer.body or {})
            if why:
                tally.note_wrong(answer, why)
                return
        if call.remember is not None and isinstance(answer.body, dict):
            memory[call.remember] = answer.body


def refusal_problem(answer: Answer) -> str | None:
    """What is wrong with a refusal: not the documented one, or not the JSON error shape."""
    call, body = answer.call, answer.body
    if call.expect is Expect.REFUSED and call.status and answer.status not in call.status:
        return f"must be refused with {'/'.join(map(str, sorted(call.status)))}"
    if not isinstance(body, dict) or not {"status", "code", "message"} <= body.keys():
        return "a refusal must be the JSON error shape"
    if answer.status in (401, 403, 422) and not body.get("field"):
        return "a refusal must name the field at fault"
    return None


class Progress:
    """Calls answered so far, for a task that acts part-way through the run."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.started = time.monotonic()

    async def reached(self, calls: int) -> None:
        while self.tally.calls < calls:
            await asyncio.sleep(0.2)
