"""Nomad's list options on ``/v1/jobs``, ``/v1/allocations``, ``/v1/nodes`` and
``/v1/evaluations``: ``?filter=`` (``gitorch.core.filterexpr``), ``?per_page=N`` and
``?next_token=T`` with the ``X-Nomad-NextToken`` header naming where the next page
starts.

``ListOptions`` is ASGI middleware outside the ACL gate: it sees the list as the
token may read it (the gate drops what it may not), filters it, and cuts the page, so
pages are full whatever the token. Each list comes sorted by its route; a token is
the sort key of the next page's first item, so a page resumes in the right place even
when items came or went in between. A filter that does not parse, or a malformed
``per_page`` or ``next_token``, is a 400 that says where.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitorch.api.http import text_response
from gitorch.core.filterexpr import FilterError, Node, evaluate, parse

Key = Callable[[dict[str, Any]], list[Any]]
SORT_KEYS: dict[str, Key] = {
    "/v1/jobs": lambda j: [j.get("Namespace", ""), j.get("ID", "")],
    "/v1/allocations": lambda a: [a.get("CreateIndex", 0), a.get("ID", "")],
    "/v1/evaluations": lambda e: [e.get("CreateIndex", 0), e.get("ID", "")],
    "/v1/nodes": lambda n: [n.get("Name", ""), n.get("ID", "")],
}
OPTIONS = ("filter", "per_page", "next_token")


def encode_token(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_token(token: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ValueError(f"next_token {token[:40]!r} is not a token this server gave") from None
    if not isinstance(key, list) or len(key) != 2:
        raise ValueError(f"next_token {token[:40]!r} is not a token this server gave")
    return key


class Options:
    """One request's parsed list options."""

    def __init__(self, query: QueryParams) -> None:
        text = query.get("filter", "")
        self.filter: Node | None = parse(text) if text else None
        per_page = query.get("per_page", "")
        if per_page and (not per_page.isdigit() or len(per_page) > 9):
            raise ValueError(f"per_page must be a whole number, not {per_page[:40]!r}")
        self.per_page = int(per_page) if per_page else 0
        token = query.get("next_token", "")
        self.after: list[Any] | None = decode_token(token) if token else None

    def apply(self, items: list[Any], key: Key) -> tuple[list[Any], str]:
        """The page of ``items`` and the token of the next one ("" when none)."""
        kept = [i for i in items if isinstance(i, dict)]
        if self.filter is not None:
            kept = [i for i in kept if evaluate(self.filter, i)]
        if self.after is not None:
            after = self.after
            kept = [i for i in kept if not _before(key(i), after)]
        if self.per_page and len(kept) > self.per_page:
            return kept[: self.per_page], encode_token(key(kept[self.per_page]))
        return kept, ""


def _before(a: list[Any], b: list[Any]) -> bool:
    try:
        return bool(a < b)
    except TypeError:  # a token of another list: compare as text
        return [str(x) for x in a] < [str(x) for x in b]


class ListOptions:
    """ASGI middleware: ``filter``, ``per_page``, ``next_token`` on the list routes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = SORT_KEYS.get(scope.get("path", "")) if scope["type"] == "http" else None
        query = QueryParams(scope.get("query_string", b"")) if key is not None else None
        if key is None or query is None or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        if not any(name in query for name in OPTIONS):
            await self.app(scope, receive, send)
            return
        try:
            options = Options(query)
        except (FilterError, ValueError) as exc:
            await text_response(str(exc), 400)(scope, receive, send)
            return
        await self.app(scope, receive, _Paged(send, options, key))


class _Paged:
    """Wraps ``send``: a 200 JSON list answer is filtered and cut to one page."""

    def __init__(self, send: Send, options: Options, key: Key) -> None:
        self.send = send
        self.options = options
        self.key = key
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body, token = self._paged(b"".join(self.chunks))
        headers = [
            (k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        if token:
            headers.append((b"x-nomad-nexttoken", token.encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    def _paged(self, body: bytes) -> tuple[bytes, str]:
        assert self.start is not None
        if self.start.get("status") != 200:
            return body, ""
        try:
            items = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return body, ""
        if not isinstance(items, list):
            return body, ""
        page, token = self.options.apply(items, self.key)
        return msgspec.json.encode(page), token
