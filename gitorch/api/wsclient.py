"""WebSocket client connections (the only import of the ``websockets`` library): the
CLI's ``alloc exec`` session (blocking) and an agent relaying an exec session to the
agent of the node that runs the task (asyncio). Both speak JSON text messages.

A refused handshake raises ``WsRefused`` with the HTTP status and the body the server
answered (Nomad's agents answer 4xx with a message before upgrading, as gitorch's do).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection as SyncConnection
from websockets.sync.client import connect as sync_connect

from gitorch.errors import GitorchError

OPEN_TIMEOUT_S = 15.0
MAX_MESSAGE = 4 << 20


class WsRefused(GitorchError):
    """The server answered the upgrade with an HTTP error (``status`` 0: unreachable)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{message} [HTTP {status}]" if status else message)


class WsClosed(GitorchError):
    """The connection closed; ``code`` and ``reason`` as the close frame said."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection closed ({code}){': ' + reason if reason else ''}")


def ws_url(address: str, path: str) -> str:
    """``http(s)://host:port`` or ``host:port`` and a path as a ws(s):// URL."""
    if address.startswith("https://"):
        return "wss://" + address[len("https://") :].rstrip("/") + path
    return "ws://" + address.split("://", 1)[-1].rstrip("/") + path


def _refused(exc: Exception) -> WsRefused:
    if isinstance(exc, InvalidStatus):
        response = exc.response
        body = bytes(response.body or b"").decode(errors="replace").strip()
        return WsRefused(response.status_code, body or response.reason_phrase)
    return WsRefused(0, f"{type(exc).__name__}: {exc}")


def _closed(exc: ConnectionClosed) -> WsClosed:
    frame = exc.rcvd
    return WsClosed(frame.code if frame else 1006, frame.reason if frame else "")


def _decode(raw: str | bytes) -> dict[str, Any]:
    value = json.loads(raw)
    return value if isinstance(value, dict) else {}


class SyncWs:
    """A blocking JSON-message connection (the CLI)."""

    def __init__(self, conn: SyncConnection) -> None:
        self._conn = conn

    @classmethod
    def open(
        cls,
        url: str,
        headers: Mapping[str, str],
        context: ssl.SSLContext | None = None,
        server_hostname: str = "",
    ) -> SyncWs:
        """Connect (``server_hostname`` as for ``AsyncWs.open``)."""
        secure = url.startswith("wss://")
        try:
            conn = sync_connect(
                url,
                additional_headers=dict(headers),
                ssl=context if secure else None,
                open_timeout=OPEN_TIMEOUT_S,
                max_size=MAX_MESSAGE,
                proxy=None,
                server_hostname=(server_hostname or None) if secure else None,
            )
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            raise _refused(exc) from exc
        return cls(conn)

    def send(self, message: Mapping[str, Any]) -> None:
        try:
            self._conn.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise _closed(exc) from exc

    def recv(self) -> dict[str, Any]:
        try:
            return _decode(self._conn.recv())
        except ConnectionClosed as exc:
            raise _closed(exc) from exc

    def close(self) -> None:
        self._conn.close()


class AsyncWs:
    """An asyncio JSON-message connection (an agent relaying to another)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    @classmethod
    async def open(
        cls,
        url: str,
        headers: Mapping[str, str],
        context: ssl.SSLContext | None = None,
        server_hostname: str = "",
    ) -> AsyncWs:
        """Connect; a ``wss://`` URL with ``server_hostname`` checks that name in the
        far side's certificate instead of the URL's host."""
        secure = url.startswith("wss://")
        try:
            conn = await async_connect(
                url,
                additional_headers=dict(headers),
                ssl=context if secure else None,
                open_timeout=OPEN_TIMEOUT_S,
                max_size=MAX_MESSAGE,
                proxy=None,
                server_hostname=(server_hostname or None) if secure else None,
            )
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            raise _refused(exc) from exc
        return cls(conn)

    async def send_text(self, text: str) -> None:
        try:
            await self._conn.send(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from exc

    async def recv_text(self) -> str:
        try:
            raw = await self._conn.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from exc
        return raw if isinstance(raw, str) else raw.decode(errors="replace")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._conn.close(code, reason)
