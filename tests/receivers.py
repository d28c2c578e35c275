"""Real receivers for the engine's channels, as pytest fixtures (registered in tests/conftest.py,
so the activity tests and the workflow tests share them):

- ``smtp_receiver``: an aiosmtpd SMTP server on a loopback port, for ``mailto://``;
- ``http_receiver``: a small HTTP server (uvicorn) taking ``json://`` posts and the signed
  webhook's, answering each path as the test says (200, a 4xx, a 5xx).

Both count what arrived by the engine's ``X-Contingency-Key`` header: distinct keys (one per
message the engine meant to send) and raw repeats (an attempt whose answer was lost, sent again
with the same key). ``mailto_url``, ``json_url`` and ``webhook_url`` give the channel URLs.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from activities.sinks import CONTINGENCY_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.serving import free_port, serve_asgi

WEBHOOK_SECRET = "webhook-secret-for-tests"


@dataclass(frozen=True)
class Received:
    """One message as it arrived (a mail, or a POST)."""

    key: str | None
    channel: str  # "mail", or the POST's path
    subject: str
    text: str
    html: str | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    signed: bool | None = None  # a webhook post whose signature checked out
    arrived: float = field(default_factory=time.time)  # wall clock, for latency figures

    @property
    def content(self) -> str:
        """Everything a reader could see: to check what a channel must not be told."""
        return "\n".join(
            part
            for part in (self.subject, self.text, self.html or "", json.dumps(self.body or {}))
            if part
        )


class Counted:
    """What arrived, counted by the engine's idempotency header."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    def keys(self) -> Counter[str | None]:
        return Counter(m.key for m in self.received)

    @property
    def distinct(self) -> int:
        return len(self.keys())

    @property
    def repeats(self) -> int:
        """Raw repeats: arrivals beyond the first of each key (duplicates a receiver drops)."""
        return len(self.received) - self.distinct

    def by_key(self, key: str) -> list[Received]:
        return [m for m in self.received if m.key == key]

    def clear(self) -> None:
        self.received.clear()


# SMTP.


class _SmtpHandler:
    def __init__(self, into: SmtpReceiver) -> None:
        self._into = into

    # aiosmtpd's name for the hook that receives a message.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._into.add(message, list(envelope.rcpt_tos))
        return "250 OK"


class SmtpReceiver(Counted):
    def __init__(self) -> None:
        super().__init__()
        self.port = free_port()
        self.recipients: list[list[str]] = []
        self._controller = Controller(_SmtpHandler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def add(self, message: EmailMessage, rcpt_tos: list[str]) -> None:
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        self.recipients.append(rcpt_tos)
        self.received.append(
            Received(
                key=message.get(CONTINGENCY_KEY_HEADER),
                channel="mail",
                subject=str(message.get("Subject", "")),
                text=text.get_content() if text is not None else "",
                html=html.get_content() if html is not None else None,
                headers={k: str(v) for k, v in message.items()},
            )
        )

    def url(self, to: str = "uk@example.org", **query: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        return f"mailto://127.0.0.1:{self.port}?from=cell@example.org&to={to}&secure=no{extra}"


# HTTP.


class HttpReceiver(Counted):
    """POSTs to any path. ``answer[path]`` is the status to give (200 when unset); a status in
    ``answer_first[path]`` is given to each key's first arrival only (a lost answer)."""

    def __init__(self, secret: str = WEBHOOK_SECRET) -> None:
        super().__init__()
        self.secret = secret
        self.answer: dict[str, int] = {}
        self.answer_first: dict[str, int] = {}
        # Seconds to hold each answer on a path (a slow receiver: a send still in flight).
        self.delay: dict[str, float] = {}
        self.base_url = ""

    async def handle(self, request: Request) -> JSONResponse:
        raw = await request.body()
        path = request.url.path
        headers = dict(request.headers)
        signed = None
        if SIGNATURE_HEADER.lower() in headers:
            mac = hmac.new(
                self.secret.encode(),
                headers.get(TIMESTAMP_HEADER.lower(), "").encode() + b"." + raw,
                hashlib.sha256,
            ).hexdigest()
            signed = hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], f"sha256={mac}")
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"raw": raw.decode(errors="replace")}
        key = headers.get(CONTINGENCY_KEY_HEADER.lower())
        first = not any(m.key == key and m.channel == path for m in self.received)
        self.received.append(
            Received(
                key=key,
                channel=path,
                subject=str(body.get("title") or body.get("subject") or ""),
                text=str(body.get("message") or body.get("text") or ""),
                body=body,
                headers=headers,
                signed=signed,
            )
        )
        if path in self.delay:
            await asyncio.sleep(self.delay[path])
        status = self.answer.get(path, 200)
        if first and path in self.answer_first:
            status = self.answer_first[path]
        return JSONResponse({"ok": status < 300}, status_code=status)

    def at(self, path: str) -> list[Received]:
        return [m for m in self.received if m.channel == path]

    def json_url(self, path: str) -> str:
        return f"json://{self.base_url.removeprefix('http://')}{path}"

    def webhook_url(self, path: str) -> str:
        return f"webhook+{self.base_url}{path}"


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
async def http_receiver() -> AsyncIterator[HttpReceiver]:
    receiver = HttpReceiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.handle, methods=["POST"])])
    async with serve_asgi(app) as url:
        receiver.base_url = url
        yield receiver
        # Let a send still in flight land before the server goes.
        await asyncio.sleep(0)
