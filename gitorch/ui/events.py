"""Live updates: ``/ui/events``, a Server-Sent Events stream of tiny ``change`` events.

It follows the agent's own ``/v1/event/stream`` in-process (the request goes to the same
app with a rewritten scope and the user's token, as ``gitorch.ui.logs`` does for logs),
keeps only the topics a page shows (Job, Allocation, Deployment, Node, Evaluation,
GitOps), and sends one ``change`` per batch, coalesced over ``COALESCE_S``:
``event: change`` with ``data: {"Index": N, "Topics": [...]}``. No object from the
stream reaches the browser; ``ui.js`` refetches the page's live regions instead, so a
page shows only what its own API calls show. When the inner stream is refused (403
without a token that may read jobs, 404 on an agent without a server), the same status
goes to the browser, whose EventSource then fails and ``ui.js`` polls instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from gitorch.ui.guard import SECURITY_HEADERS, token_of

TOPICS = ("Job", "Allocation", "Deployment", "Node", "Evaluation", "GitOps")
COALESCE_S = 0.05  # events of one change (a plan: allocs, deployment, eval) arrive together
RETRY_MS = 1000  # the browser's reconnect delay after the connection drops
INNER_PATH = "/v1/event/stream"
MAX_LINE = 64 << 20  # a frame larger than this is dropped (and counted as a change)


class EventFeed(Response):
    """The SSE response: runs the inner event stream and translates its frames."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def inner_scope(self, scope: Scope) -> Scope:
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k not in (b"x-nomad-token", b"cookie", b"accept-encoding", b"accept")
        ]
        if self.token:
            headers.append((b"x-nomad-token", self.token.encode("latin-1", "replace")))
        query = urlencode([("topic", t) for t in TOPICS] + [("namespace", "*")])
        return {
            "type": "http",
            # 2.3: the inner StreamingResponse listens for our disconnect message
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": scope.get("http_version", "1.1"),
            "method": "GET",
            "scheme": scope.get("scheme", "http"),
            "server": scope.get("server"),
            "client": scope.get("client"),
            "root_path": "",
            "path": INNER_PATH,
            "raw_path": INNER_PATH.encode(),
            "query_string": query.encode(),
            "headers": headers,
            "state": {},
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inbox: asyncio.Queue[Message | None] = asyncio.Queue()
        done = asyncio.Event()

        async def inner_receive() -> Message:
            await done.wait()
            return {"type": "http.disconnect"}

        async def inner_send(message: Message) -> None:
            if done.is_set():
                raise OSError("the browser left")
            await inbox.put(message)

        async def watch_browser() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
            done.set()
            await inbox.put(None)

        inner = asyncio.create_task(
            scope["app"](self.inner_scope(scope), inner_receive, inner_send)
        )
        watcher = asyncio.create_task(watch_browser())
        inner.add_done_callback(lambda _: inbox.put_nowait(None))
        try:
            await self._relay(inbox, send)
        except OSError:
            pass  # the browser's connection broke while we wrote
        finally:
            done.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(inner), 1.0)
            if not inner.done():
                inner.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await inner

    async def _relay(self, inbox: asyncio.Queue[Message | None], send: Send) -> None:
        start = await inbox.get()
        if start is None or start["type"] != "http.response.start":
            await _plain(send, 502, "the event stream did not answer")
            return
        status = int(start["status"])
        if status != 200:
            body = b""
            while True:
                message = await inbox.get()
                if message is None or message["type"] != "http.response.body":
                    break
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            await _plain(send, status, body.decode("utf-8", "replace")[:2000])
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": _headers(
                    ("Content-Type", "text/event-stream; charset=utf-8"),
                    ("Cache-Control", "no-store"),
                    ("X-Accel-Buffering", "no"),
                ),
            }
        )
        await _chunk(send, f"retry: {RETRY_MS}\n: open\n\n".encode())
        await self._changes(inbox, send)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _changes(self, inbox: asyncio.Queue[Message | None], send: Send) -> None:
        buf = b""
        topics: set[str] = set()
        index = 0
        while True:
            try:
                timeout = COALESCE_S if topics else None
                message = await asyncio.wait_for(inbox.get(), timeout)
            except TimeoutError:
                await _chunk(send, change(index, topics))
                topics = set()
                continue
            if message is None or message["type"] != "http.response.body":
                break
            buf += message.get("body", b"")
            lines = buf.split(b"\n")
            buf = lines.pop()
            if len(buf) > MAX_LINE:
                buf, lines = b"", [*lines, b'{"Events":[{"Topic":"*"}]}']
            beat = False
            for line in lines:
                frame_topics, frame_index = read_frame(line)
                if frame_topics is None:
                    beat = True
                    continue
                topics |= frame_topics
                index = max(index, frame_index)
            if beat and not topics:
                await _chunk(send, b": ping\n\n")
            if not message.get("more_body", False):
                break
        if topics:
            await _chunk(send, change(index, topics))


def read_frame(line: bytes) -> tuple[set[str] | None, int]:
    """The topics and index of one NDJSON frame; (None, 0) for a heartbeat ``{}`` or a
    line that is not a frame."""
    try:
        frame: Any = json.loads(line) if line.strip() else {}
    except ValueError:
        return None, 0
    events = frame.get("Events") if isinstance(frame, dict) else None
    if not events:
        return None, 0
    topics = {str(e.get("Topic", "")) for e in events if isinstance(e, dict)}
    index = frame.get("Index", 0)
    return topics, index if isinstance(index, int) else 0


def change(index: int, topics: set[str]) -> bytes:
    """One SSE ``change`` event (names only: nothing from an event's payload)."""
    data = json.dumps({"Index": index, "Topics": sorted(topics)}, separators=(",", ":"))
    return f"event: change\ndata: {data}\n\n".encode()


def _headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in (*pairs, *SECURITY_HEADERS)]


async def _chunk(send: Send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _plain(send: Send, status: int, text: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _headers(("Content-Type", "text/plain; charset=utf-8")),
        }
    )
    await send({"type": "http.response.body", "body": text.encode(), "more_body": False})


async def stream(request: Request) -> Response:
    return EventFeed(token_of(request))
