"""Sending one rendered message to one channel: Apprise for every scheme it knows, the engine's
signed webhook for ``webhook+http(s)://``.

Every message carries ``X-Contingency-Key: <idempotency key>``: Apprise adds it from a
``+Name=value`` item of the URL's query (``json://``, ``mailto://`` and the other schemes with
custom headers), the webhook sets it itself. Apprise's mail sets its own ``Message-ID``, which
changes on every attempt, so receivers de-duplicate on the engine's header, never on that.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import apprise
import httpx
import structlog

from activities.contacts import WEBHOOK_PREFIX, Channel
from activities.sinks import CONTINGENCY_KEY_HEADER, SinkRejected, WebhookSink

log = structlog.get_logger(__name__)

# What is kept of a failure's text (rows, results, logs): a payload must stay small.
ERROR_CHARS = 200
# One Apprise send in its thread, at most: past it the attempt counts as failed and is retried
# (a send that finishes late only adds a raw repeat with the same key, which receivers drop).
APPRISE_TIMEOUT_S = 30.0
# Apprise sends mail as HTML with a text alternative it derives from the HTML itself (its
# email plugin builds multipart/alternative for an HTML body); every other scheme gets text.
HTML_SCHEMES = frozenset({"mailto", "mailtos"})


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str
    # What the signed webhook posts as JSON: ids and the rendered text, nothing a channel that
    # is not cleared may not see.
    document: Mapping[str, Any] = field(default_factory=dict)


class ChannelRefused(Exception):
    """The channel refused the message for good (a webhook's 4xx): retrying cannot help."""


class ChannelFailed(Exception):
    """The message did not get through this time (Apprise said no, a timeout, a 5xx)."""


def opaque_key(key: str) -> str:
    """The key as a channel not cleared for incident content sees it: a delivery key names the
    incident (and so its sector); its digest is as unique and says nothing."""
    return "k-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def with_header(url: str, name: str, value: str) -> str:
    """``url`` with Apprise's ``+Name=value`` query item appended. Apprise reads the query as
    everything after the first ``?``, so the item goes at the very end."""
    item = f"+{name}={quote(value, safe='')}"
    return f"{url}&{item}" if "?" in url else f"{url}?{item}"


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower()


def _apprise_failure(result: object) -> str:
    """What Apprise logged about a failed send. Apprise 2.3's result keeps each service's log
    (the process-wide ``apprise`` logger would mix concurrent sends, which Apprise runs in
    threads of its own); older results are a bare bool."""
    lines: list[str] = []
    for service in getattr(result, "results", ()) or ():
        for entry in service.logs():
            if entry.level in ("WARNING", "ERROR", "CRITICAL"):
                lines.append(entry.message)
    return short("; ".join(lines)) if lines else "Apprise reported a failure and said no more"


def _notify(url: str, message: Message) -> str | None:
    """One synchronous Apprise send (run in a thread); None when delivered, else why not."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return "Apprise no longer accepts this channel's URL"
    manager = apprise.Apprise()
    manager.add(plugin)
    if _scheme(url) in HTML_SCHEMES:
        body, body_format = message.html, apprise.NotifyFormat.HTML
    else:
        body, body_format = message.text, apprise.NotifyFormat.TEXT
    result = manager.notify(title=message.subject, body=body, body_format=body_format)
    return None if result else _apprise_failure(result)


class ChannelSender:
    """Sends to one channel at a time; safe to share between concurrent sends."""

    def __init__(
        self,
        webhook_secret: str | None,
        *,
        webhook_timeout: float = 10.0,
        apprise_timeout: float = APPRISE_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._webhook_secret = webhook_secret
        self._webhook_timeout = webhook_timeout
        self._apprise_timeout = apprise_timeout
        self._transport = transport

    async def send(self, channel: Channel, message: Message, key: str) -> None:
        """Deliver or raise: ChannelRefused for good, ChannelFailed to be tried again."""
        if not channel.cleared:
            key = opaque_key(key)
        if channel.is_webhook:
            await self._webhook(channel, message, key)
        else:
            await self._apprise(channel, message, key)

    async def _apprise(self, channel: Channel, message: Message, key: str) -> None:
        url = with_header(channel.url, CONTINGENCY_KEY_HEADER, key)
        try:
            # notify() blocks, and answers only delivered or not: off the event loop, and any
            # failure is worth another attempt (Apprise cannot tell a permanent one).
            error = await asyncio.wait_for(
                asyncio.to_thread(_notify, url, message), self._apprise_timeout
            )
        except TimeoutError:
            error = f"no answer within {self._apprise_timeout:g} s"
        except Exception as exc:
            # A plugin's bug must not look like a delivery, nor hide: logged whole, retried.
            log.exception("delivery.apprise_error", channel=channel.privacy)
            error = short(f"{type(exc).__name__}: {exc}")
        if error is not None:
            raise ChannelFailed(error)

    async def _webhook(self, channel: Channel, message: Message, key: str) -> None:
        if not self._webhook_secret:
            raise ChannelRefused("the signed webhook needs CONTINGENCY_WEBHOOK_SECRET")
        sink = WebhookSink(
            channel.url.removeprefix(WEBHOOK_PREFIX),
            self._webhook_secret,
            timeout=self._webhook_timeout,
            transport=self._transport,
        )
        document = {
            **message.document,
            "idempotency_key": key,
            "subject": message.subject,
            "text": message.text,
        }
        try:
            await sink.post(document, key)
        except SinkRejected as exc:
            raise ChannelRefused(short(str(exc))) from exc
        except Exception as exc:  # 5xx, connection errors, timeouts: the next attempt may pass
            raise ChannelFailed(short(f"{type(exc).__name__}: {exc}")) from exc
