"""The browser's exec terminal: ``/ui/allocation/:id/exec?task=&command=/bin/sh``, a
WebSocket relayed to the agent's own ``/v1/client/allocation/:id/exec``.

The browser cannot send the ACL token (it lives in an HttpOnly cookie), so this route
adds it. It hands the browser's ASGI connection (``receive``, ``send``) to the agent's
app with a rewritten scope, as ``gitorch.ui.logs`` does for the log stream: the inner
route runs in the same process and sees a WebSocket as from any client (ACL gate
included), frames pass through untouched, and there is no second connection, port or
TLS setting to know (``gitorch.api.wsclient`` is also out of the UI's reach by the
import contract).

Before that, the ``Origin`` must be this page's own (a WebSocket is not bound by CORS,
so this is the UI's CSRF check, as ``gitorch.ui.guard.same_origin`` is for POSTs). The
command is one string split as a shell would (``shlex``) into the API's JSON list. A
refusal by the inner route (an HTTP status before the upgrade, which a browser's
WebSocket cannot read) is turned into an accepted socket that sends one
``{"error": {"status", "message"}}`` frame and closes with 1008, so the page can say why.
"""

from __future__ import annotations

import json
import shlex
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.requests import cookie_parser
from starlette.types import Message, Receive, Scope, Send

from gitorch.ui.api import seg
from gitorch.ui.guard import TOKEN_COOKIE

DENIAL = "websocket.http.response"
MAX_COMMAND = 4096
_DROPPED = (b"x-nomad-token", b"authorization", b"cookie")


def same_origin_ws(scope: Scope) -> bool:
    """The upgrade came from a page of this origin: ``Origin`` present, its host this
    host, its scheme ``http`` for ``ws`` and ``https`` for ``wss``, and no cross-site
    ``Sec-Fetch-Site``."""
    headers = Headers(scope=scope)
    if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    scheme = {"ws": "http", "wss": "https"}.get(str(scope.get("scheme", "ws")), "")
    return parts.scheme == scheme and parts.netloc == headers.get("host", "")


def token_from(scope: Scope) -> str:
    """As ``guard.token_of``: an ``X-Nomad-Token`` header wins over the cookie."""
    headers = Headers(scope=scope)
    return headers.get("x-nomad-token") or cookie_parser(headers.get("cookie", "")).get(
        TOKEN_COOKIE, ""
    )


def inner_query(query: QueryParams) -> str:
    """The API's query: ``command`` as a JSON list, a terminal unless ``tty=false``."""
    text = query.get("command", "") or "/bin/sh"
    if len(text) > MAX_COMMAND:
        raise ValueError(f"the command is longer than {MAX_COMMAND} characters")
    argv = shlex.split(text)
    if not argv:
        raise ValueError("the command is empty")
    tty = "false" if query.get("tty", "true").lower() in ("false", "0") else "true"
    return urlencode({"task": query.get("task", ""), "command": json.dumps(argv), "tty": tty})


class ExecRelay:
    """The ASGI app behind the UI's exec WebSocket route."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            return
        if not same_origin_ws(scope):
            await refuse_upgrade(scope, send, 403, "cross-site request refused")
            return
        alloc_id = str(scope.get("path_params", {}).get("alloc_id", ""))
        try:
            query = inner_query(QueryParams(scope.get("query_string", b"").decode("latin-1")))
        except ValueError as exc:
            await refuse_in_band(send, 400, f"command: {exc}")
            return
        await scope["app"](inner_scope(scope, alloc_id, query), receive, Relay(send))


def inner_scope(scope: Scope, alloc_id: str, query: str) -> Scope:
    path = f"/v1/client/allocation/{seg(alloc_id)}/exec"
    headers = [(k, v) for k, v in scope["headers"] if k not in _DROPPED]
    token = token_from(scope)
    if token:
        headers.append((b"x-nomad-token", token.encode("latin-1", "replace")))
    extensions = {**(scope.get("extensions") or {}), DENIAL: {}}  # refusals come to us
    return {
        "type": "websocket",
        "asgi": scope.get("asgi", {"version": "3.0"}),
        "http_version": scope.get("http_version", "1.1"),
        "scheme": scope.get("scheme", "ws"),
        "server": scope.get("server"),
        "client": scope.get("client"),
        "root_path": "",
        "path": unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": headers,
        "subprotocols": scope.get("subprotocols", []),
        "extensions": extensions,
        "state": {},
    }


class Relay:
    """The inner route's ``send``: passes everything through once it has accepted; a
    refusal before that (a denial response, or a close) becomes an error frame."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.accepted = False
        self.status = 0
        self.body = b""

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if self.accepted or kind == "websocket.accept":
            self.accepted = True
            await self.send(message)
        elif kind == "websocket.http.response.start":
            self.status = int(message.get("status", 500))
        elif kind == "websocket.http.response.body":
            self.body += bytes(message.get("body", b""))
            if not message.get("more_body", False):
                text = self.body.decode("utf-8", "replace").strip()
                await refuse_in_band(self.send, self.status, text)
                self.accepted = True  # nothing more goes out but closing frames
        elif kind == "websocket.close":
            reason = str(message.get("reason") or "the agent refused the session")
            await refuse_in_band(self.send, 403, reason)
            self.accepted = True


async def refuse_in_band(send: Send, status: int, message: str) -> None:
    """Accept, say why in one frame, close: a browser's WebSocket shows no HTTP error."""
    frame: dict[str, Any] = {"error": {"status": status, "message": message[:4000]}}
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps(frame)})
    await send({"type": "websocket.close", "code": 1008, "reason": ""})


async def refuse_upgrade(scope: Scope, send: Send, status: int, message: str) -> None:
    """Refuse before the upgrade: an HTTP status where the server can send one, else a
    close, which servers answer with 403."""
    if DENIAL in (scope.get("extensions") or {}):
        body = message.encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008, "reason": message})
