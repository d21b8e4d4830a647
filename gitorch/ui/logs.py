"""Task logs in the browser: a live stream through the existing logs API with follow.

``/ui/allocation/:id/logs/stream`` rewrites the browser's request into
``/v1/client/fs/logs/:id?follow=true&plain=true`` and hands the connection (its
``receive`` and ``send``) to the agent's own app: bytes reach the browser as the task
writes them, a closed tab ends the inner stream, and the user's token goes along. The log
is never loaded whole: the stream starts at most ``TAIL_BYTES`` before the end.
"""

from __future__ import annotations

from urllib.parse import unquote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gitorch.ui.api import seg
from gitorch.ui.guard import SECURITY_HEADERS, token_of

TAIL_BYTES = 64 * 1024
KINDS = ("stdout", "stderr")


def log_query(task: str, kind: str, *, follow: bool) -> dict[str, str]:
    """The logs API's parameters for the tail of one task's stdout or stderr."""
    return {
        "task": task,
        "type": kind if kind in KINDS else "stdout",
        "plain": "true",
        "origin": "end",
        "offset": str(TAIL_BYTES),
        "follow": "true" if follow else "false",
    }


class Passthrough(Response):
    """A response that is another route of the same app, called with a rewritten scope."""

    def __init__(self, path: str, query: dict[str, str], token: str) -> None:
        super().__init__()
        self.inner_path = path
        self.inner_query = urlencode(query)
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k not in (b"x-nomad-token", b"cookie", b"accept-encoding")
        ]
        if self.token:
            headers.append((b"x-nomad-token", self.token.encode("latin-1", "replace")))
        inner: Scope = {
            "type": "http",
            "asgi": scope.get("asgi", {"version": "3.0"}),
            "http_version": scope.get("http_version", "1.1"),
            "method": "GET",
            "scheme": scope.get("scheme", "http"),
            "server": scope.get("server"),
            "client": scope.get("client"),
            "root_path": "",
            "path": unquote(self.inner_path),
            "raw_path": self.inner_path.encode(),
            "query_string": self.inner_query.encode(),
            "headers": headers,
            "state": {},
        }
        extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS]

        async def send_with_headers(message: dict[str, object]) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))  # type: ignore[call-overload]
                message = {**message, "headers": raw + extra}
            await send(message)

        await scope["app"](inner, receive, send_with_headers)


async def stream(request: Request) -> Response:
    alloc_id = request.path_params["alloc_id"]
    q = request.query_params
    query = log_query(q.get("task", ""), q.get("type", "stdout"), follow=True)
    return Passthrough(f"/v1/client/fs/logs/{seg(alloc_id)}", query, token_of(request))
