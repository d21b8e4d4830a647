"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for load generators.

httpx spends milliseconds of CPU per request (anyio task groups, pool scans); a load
process playing 10,000 clients with it saturates its core before the servers do, and
then measures itself. This client does what the simulated clients need and nothing
more: one request at a time per connection, ``Content-Length`` bodies (what uvicorn
sends for JSON), reconnect after any error.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

_FAILURES = (OSError, EOFError, ValueError, TimeoutError, asyncio.IncompleteReadError)


class HttpError(Exception):
    """The connection failed or the response could not be read."""


class Conn:
    """One keep-alive connection to ``host:port``; requests go one after another."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def to(cls, address: str) -> Conn:
        host, _, port = address.rpartition(":")
        return cls(host, int(port))

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, asyncio.CancelledError):
                pass

    async def request(
        self, method: str, path: str, body: Any = None, timeout: float = 30.0
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; the status, headers (lower-case names) and body."""
        data = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Length: {len(data)}\r\nContent-Type: application/json\r\n\r\n"
        ).encode()
        async with self._lock:
            if self._reader is not None and self._reader.at_eof():
                await self.close()  # the server closed it while idle (keep-alive timeout)
            for attempt in (1, 2):
                reused = self._writer is not None
                try:
                    return await asyncio.wait_for(self._exchange(head + data), timeout)
                except _FAILURES as exc:
                    await self.close()
                    stale = reused and isinstance(exc, EOFError | ConnectionError)
                    if attempt == 2 or not stale:  # a kept-alive one closed: retry once
                        raise HttpError(f"{type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    async def _exchange(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        writer.write(raw)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise EOFError("connection closed")
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, body
