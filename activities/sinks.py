"""Where diplomatic and military steps leave the engine: a sink per channel."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

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
