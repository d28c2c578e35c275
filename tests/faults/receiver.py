"""A counting webhook receiver: where the workers' webhook sink sends every diplomatic step.

It records every delivery with its ``Idempotency-Key`` and verifies the signature, so the fault
tests can tell how many times each step arrived (raw) and how many it processed (de-duplicated
on the key, as the webhook contract asks of a receiver).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

from activities.sinks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    webhook_signature,
)


@dataclass
class WebhookReceiver:
    secret: str
    host: str = "127.0.0.1"
    port: int = 0
    deliveries: Counter[str] = field(default_factory=Counter)  # key -> times received
    steps: dict[str, str] = field(default_factory=dict)  # key -> step
    bad_signatures: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/steps"

    @property
    def processed(self) -> set[str]:
        """Keys acted on: each once, however often it arrived."""
        return set(self.deliveries)

    @property
    def duplicates(self) -> int:
        """Arrivals beyond the first of a key (a send retried after a crash or an outage)."""
        return sum(self.deliveries.values()) - len(self.deliveries)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            expected = webhook_signature(
                self.secret, headers.get(TIMESTAMP_HEADER.lower(), ""), body
            )
            if headers.get(SIGNATURE_HEADER.lower()) != expected:
                self.bad_signatures += 1
                status = b"401 Unauthorized"
            else:
                key = headers[IDEMPOTENCY_HEADER.lower()]
                self.deliveries[key] += 1
                self.steps[key] = json.loads(body)["step"]
                status = b"200 OK"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
