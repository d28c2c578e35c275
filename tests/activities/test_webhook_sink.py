"""The webhook sink against a local receiver that checks the signature: each step arrives once,
even when the receiver fails the first attempt; a refusal is permanent, an outage is retried."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from activities.sinks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    OutboundMessage,
    SinkRejected,
    WebhookSink,
    WebhookUnavailable,
)
from db.models import Notification
from foundation.settings import Settings
from plans.loader import get_plan
from tests.serving import serve_asgi
from worker import WorkerDependencies, build_sink, build_worker
from workflows.messages import Evidence, Outcome, ViolationReport
from workflows.starting import build_input, start_incident

SECRET = "s3cret-for-tests"


@dataclass
class Receiver:
    """Accepts a step once per idempotency key; can fail each key's first attempt, or refuse."""

    fail_first: bool = False
    refuse: bool = False
    attempts: list[str] = field(default_factory=list)
    delivered: dict[str, dict] = field(default_factory=dict)
    bad_signatures: int = 0

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        timestamp = request.headers[TIMESTAMP_HEADER]
        expected = hmac.new(
            SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(request.headers[SIGNATURE_HEADER], f"sha256={expected}"):
            self.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        key = request.headers[IDEMPOTENCY_HEADER]
        self.attempts.append(key)
        if self.refuse:
            return JSONResponse({"error": "unknown recipient"}, status_code=400)
        if self.fail_first and self.attempts.count(key) == 1:
            return JSONResponse({"error": "busy"}, status_code=503)
        self.delivered.setdefault(key, json.loads(body))  # a repeat of a delivered key is a no-op
        return JSONResponse({"ok": True})


@asynccontextmanager
async def serve(receiver: Receiver) -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    async with serve_asgi(app) as url:
        yield f"{url}/hook"


def message(step: str = "demarche") -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=f"incident-x:{step}:{uuid.uuid4().hex[:6]}",
        incident_id="x",
        workflow_id="incident-x",
        step=step,
        title="Démarche",
        kind="ceasefire_breach",
        sector="Luhansk",
        t0=datetime(2026, 3, 1, tzinfo=UTC),
        escalation_level=1,
        exercise=False,
    )


async def test_a_signed_post_with_the_idempotency_key():
    receiver = Receiver()
    async with serve(receiver) as url:
        sent = message()
        await WebhookSink(url, SECRET).send(sent)
    assert receiver.bad_signatures == 0
    assert receiver.delivered[sent.idempotency_key]["title"] == "Démarche"
    assert receiver.delivered[sent.idempotency_key]["t0"] == "2026-03-01T00:00:00+00:00"


async def test_a_wrong_secret_is_refused_for_good():
    receiver = Receiver()
    async with serve(receiver) as url:
        with pytest.raises(SinkRejected, match="401"):
            await WebhookSink(url, "another secret").send(message())
    assert receiver.bad_signatures == 1 and not receiver.delivered


async def test_refusals_are_permanent_outages_are_retried():
    async with serve(Receiver(refuse=True)) as url:
        with pytest.raises(SinkRejected, match="400"):
            await WebhookSink(url, SECRET).send(message())
    async with serve(Receiver(fail_first=True)) as url:
        with pytest.raises(WebhookUnavailable, match="503"):
            await WebhookSink(url, SECRET).send(message())
    with pytest.raises(httpx.ConnectError):
        await WebhookSink("http://127.0.0.1:9/hook", SECRET, timeout=2).send(message())


def test_the_sink_is_chosen_by_configuration():
    sink = build_sink(
        Settings(notification_sink="webhook", webhook_url="http://x/hook", webhook_secret=SECRET)
    )
    assert isinstance(sink, WebhookSink) and sink.url == "http://x/hook"
    with pytest.raises(ValueError, match="CONTINGENCY_WEBHOOK_SECRET"):
        build_sink(Settings(notification_sink="webhook", webhook_url="http://x/hook"))


async def test_each_step_arrives_once_though_the_first_attempt_fails(ts_env, settings, sessions):
    receiver = Receiver(fail_first=True)
    async with serve(receiver) as url:
        deps = WorkerDependencies.build(settings, sink=WebhookSink(url, SECRET))
        try:
            async with build_worker(ts_env.client, settings.task_queue, deps, settings):
                now = await ts_env.get_current_time()
                report = ViolationReport(
                    report_id=f"hook-{uuid.uuid4().hex}",
                    kind="ceasefire_breach",
                    sector="Luhansk",
                    reported_by="osce-smm",
                    observed_at=now,
                    reported_at=now,
                    evidence=(Evidence("ua-gs", "shelling confirmed"),),  # two sources: verified
                )
                incident = build_input(report, get_plan())
                handle = await start_incident(ts_env.client, incident, settings.task_queue, now=now)
                view = await handle.result()
        finally:
            await deps.close()

    assert view.outcome is Outcome.DIPLOMATIC_RESPONSE
    assert view.dispatched == ("demarche",)
    key = f"{handle.id}:demarche"
    assert receiver.attempts == [key, key]  # refused once with a 503, then accepted
    assert list(receiver.delivered) == [key]
    assert receiver.bad_signatures == 0
    async with sessions() as session:
        row = await session.scalar(select(Notification).where(Notification.idempotency_key == key))
    assert (
        row is not None
        and row.status == "delivered"
        and row.attempts == 2
        and row.channel == "webhook"
    )
