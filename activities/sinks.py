"""Where diplomatic and military steps leave the engine: a sink per channel."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class OutboundMessage:
    idempotency_key: str
    incident_id: str
    workflow_id: str
    step: str
    title: str
    kind: str
    sector: str
    t0: datetime
    escalation_level: int
    exercise: bool

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["t0"] = self.t0.isoformat()
        return data


class SinkRejected(Exception):
    """The receiving end refused the message for good: retrying cannot help."""


class NotificationSink(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> None:
        """Deliver, or raise: SinkRejected for a permanent refusal, anything else to be retried."""


class LogSink:
    """The default: steps are written to the structured log (and the outbox table)."""

    name = "log"

    async def send(self, message: OutboundMessage) -> None:
        log.info("notification.sent", channel=self.name, **message.as_json())


class ExerciseSink:
    """For tabletop exercises: nothing ever leaves the machine; messages are kept for the report."""

    name = "exercise"

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> None:
        self.sent.append(message)
        log.info("notification.exercise", channel=self.name, **message.as_json())


SIGNATURE_HEADER = "X-Contingency-Signature"
TIMESTAMP_HEADER = "X-Contingency-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# The engine's own idempotency header, on every message of every channel (mail included, where
# Apprise sets its own Message-ID): receivers de-duplicate on it.
CONTINGENCY_KEY_HEADER = "X-Contingency-Key"
# Statuses worth another attempt: the receiver is busy or timed out, not refusing the message.
RETRYABLE_4XX = frozenset({408, 425, 429})


class WebhookUnavailable(Exception):
    """The receiver is down or overloaded: retried by the activity with backoff."""


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>``: the receiver recomputes it,
    and checks the timestamp is recent, to know the step came from this engine, unaltered."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookSink:
    """A JSON POST per step. The receiver de-duplicates on the Idempotency-Key header: a step
    retried after a lost response arrives again with the same key."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the webhook sink needs a signing secret")
        self.url = url
        self._secret = secret
        self._timeout = timeout
        self._transport = transport

    async def send(self, message: OutboundMessage) -> None:
        status = await self.post(message.as_json(), message.idempotency_key)
        log.info("notification.sent", channel=self.name, status=status, **message.as_json())

    async def post(self, document: dict[str, Any], idempotency_key: str) -> int:
        """One signed POST of ``document``: a step, or a notice (activities/channels.py).
        Returns the status on 2xx; raises SinkRejected for a permanent refusal, WebhookUnavailable or the
        connection's error for what is worth another attempt."""
        body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: idempotency_key,
            # The header every channel's message carries, so one receiver can count them all.
            CONTINGENCY_KEY_HEADER: idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: webhook_signature(self._secret, timestamp, body),
        }
        # Connection errors and timeouts propagate: the activity's retry policy backs off.
        async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
            response = await client.post(self.url, content=body, headers=headers)
        status = response.status_code
        if 200 <= status < 300:
            return status
        reason = f"webhook answered {status}: {response.text[:200]}"
        # A refusal (4xx) or a redirect (not followed: configure the final address) is permanent.
        if status < 500 and status not in RETRYABLE_4XX:
            raise SinkRejected(reason)
        raise WebhookUnavailable(reason)
