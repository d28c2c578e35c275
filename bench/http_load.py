"""A lean HTTP/1.1 load client: one keep-alive connection per simulated client.

On a 2-core machine the load generator shares the CPU with the API and the Temporal server it
measures; httpx spends several times more CPU per request than the few lines below, and that
CPU would be taken from the system under test. This client writes the request and reads the
status, the headers and a ``Content-Length`` body, which is all the API ever sends back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any


class HttpError(RuntimeError):
    """The server answered something this client does not read (no Content-Length, a broken line)."""


class KeepAliveClient:
    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self._host, self._port = host, port
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: Any) -> tuple[int, bytes]:
        """POST ``body`` as JSON; the status code and the response body."""
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n{self._headers}\r\n"
        )
        self._writer.write(head.encode() + data)
        status_line = await self._reader.readline()
        try:
            status = int(status_line.split(b" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpError(f"not an HTTP status line: {status_line[:80]!r}") from None
        length, close = None, False
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:
            raise HttpError(f"status {status} without Content-Length")
        content = await self._reader.readexactly(length)
        if close:
            await self.close()
        return status, content

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None
