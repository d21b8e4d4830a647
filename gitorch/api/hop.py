"""The relay's HTTP/1.1 client (h11 on asyncio streams): one hop from a follower to the
leader, or from a client agent to a server, over kept-alive connections.

A follower relays every write its clients send (10,000 nodes' registrations and a
third of their heartbeats each), and httpx spent about 1.8 ms of the follower's CPU on
each one (anyio task groups, httpcore's pool scans), so a follower relayed ~320
registrations a second while the leader, asked directly, took ~1,000. This client does
only what a relay needs: a request with a ``Content-Length`` body, the whole answer
read into memory (h11 undoes chunking), connections reused per target while idle for
less than the far side's keep-alive, TLS from the agent's context.

Failures come in two kinds, as the relay's retry rules need them: ``NotSent`` (the
connection could not be made: nothing reached the far side, safe to try again) and
``Broken`` (the request may have arrived: a write may have been applied).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass
from typing import Final

import h11

IDLE_S: Final = 4.0  # below uvicorn's keep-alive (5 s): the far side never closes first
MAX_IDLE: Final = 32  # idle connections kept per target
MAX_CONNS: Final = 256  # connections open at once per target
_READ: Final = 1 << 16


class NotSent(Exception):
    """The connection could not be made; the far side saw nothing."""


class Broken(Exception):
    """The request went out (or may have) and no whole answer came back."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _Conn:
    __slots__ = ("reader", "writer", "h11", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        return not self.reader.at_eof() and now - self.idle_since < IDLE_S

    def close(self) -> None:
        self.writer.close()


class HopClient:
    """Kept-alive connections to any number of ``host:port`` targets."""

    def __init__(self, tls: ssl.SSLContext | None = None, server_name: str | None = None) -> None:
        self._tls, self._server_name = tls, server_name
        self._idle: dict[str, list[_Conn]] = {}
        self._slot: dict[str, asyncio.Semaphore] = {}
        self._loop: asyncio.AbstractEventLoop | None = None  # the one the idle ones are on

    async def request(
        self,
        target: str,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        timeout: float,
    ) -> Answer:
        """Send ``method path`` (``path`` as it goes on the wire: percent-encoded, with
        its query) to ``target`` and read the answer, within ``timeout`` seconds in all."""
        sent = False
        try:
            async with asyncio.timeout(timeout):
                async with self._slots(target):
                    conn = await self._conn(target)
                    sent = True  # from here on the far side may see it
                    return await self._exchange(conn, target, method, path, headers, body)
        except TimeoutError:
            if not sent:
                raise NotSent(f"no connection within {timeout:g} s") from None
            raise Broken(f"no answer within {timeout:g} s") from None

    def _slots(self, target: str) -> asyncio.Semaphore:
        """At most ``MAX_CONNS`` requests in flight to ``target``; the rest wait their
        turn (a follower relaying thousands of blocking queries keeps its descriptors)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections and semaphores serve the loop that made them
            self._drop_idle()
            self._slot, self._loop = {}, loop
        slots = self._slot.get(target)
        if slots is None:
            slots = self._slot[target] = asyncio.Semaphore(MAX_CONNS)
        return slots

    async def _conn(self, target: str) -> _Conn:
        idle, now = self._idle.get(target), time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable(now):
                return conn
            conn.close()
        host, _, port = target.rpartition(":")
        host = host.strip("[]")  # an IPv6 address: [::1]:4646
        try:
            reader, writer = await asyncio.open_connection(
                host,
                int(port),
                ssl=self._tls,
                server_hostname=(self._server_name or host) if self._tls else None,
                limit=_READ,
            )
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise NotSent(str(exc) or type(exc).__name__) from None
        return _Conn(reader, writer)

    async def _exchange(
        self,
        conn: _Conn,
        target: str,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> Answer:
        done = False
        try:
            head = h11.Request(
                method=method,
                target=path,
                headers=[("host", target), *headers, ("content-length", str(len(body)))],
            )
            out = conn.h11.send(head) or b""
            if body:
                out += conn.h11.send(h11.Data(data=body)) or b""
            out += conn.h11.send(h11.EndOfMessage()) or b""
            conn.writer.write(out)
            await conn.writer.drain()
            answer = await _read(conn)
            done = True
            return answer
        except (OSError, h11.ProtocolError, asyncio.IncompleteReadError) as exc:
            raise Broken(str(exc) or type(exc).__name__) from None
        finally:
            if done and conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
                conn.h11.start_next_cycle()
                conn.idle_since = time.monotonic()
                idle = self._idle.setdefault(target, [])
                if len(idle) < MAX_IDLE:
                    idle.append(conn)
                else:
                    conn.close()
            else:  # cancelled, timed out or broken: never reused
                conn.close()

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                with contextlib.suppress(RuntimeError):  # its loop has closed
                    conn.close()

    async def aclose(self) -> None:
        self._drop_idle()


async def _read(conn: _Conn) -> Answer:
    status, headers, chunks = 0, [], []
    while True:
        event = conn.h11.next_event()
        if event is h11.NEED_DATA:
            data = await conn.reader.read(_READ)
            conn.h11.receive_data(data)  # b"": the far side closed (an error if early)
        elif isinstance(event, h11.Response):
            status = event.status_code
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
        elif isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return Answer(status, headers, b"".join(chunks))
        elif isinstance(event, h11.ConnectionClosed):
            raise Broken("the far side closed the connection before answering")
        # h11.InformationalResponse (100 Continue): wait for the real answer
