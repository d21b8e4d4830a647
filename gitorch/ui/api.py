"""How the UI reads and acts: the agent's own ``/v1`` routes, called in-process.

Pages ask through ``httpx.ASGITransport`` on the very Starlette app that serves them
(``request.app``), so a request goes through the same middleware as a CLI's (the ACL
token gate, leader forwarding on a follower) without a socket, a port, or TLS settings
to know. A streamed response (logs with ``follow``) cannot go through ASGITransport,
which buffers bodies, so ``passthrough`` hands the browser's connection to the inner
route directly (``gitorch.ui.logs``).
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec
from starlette.requests import Request

from gitorch.ui.guard import token_of

T = TypeVar("T")
TIMEOUT_S = 30.0
SYNC_TIMEOUT_S = 300.0  # a sync may fetch a large repository


class ApiFailure(Exception):
    """The API answered with an error status: the page shows it as such."""

    def __init__(self, status: int, message: str, path: str) -> None:
        super().__init__(f"{path}: {status} {message}")
        self.status = status
        self.message = message
        self.path = path


def seg(value: str) -> str:
    """One path segment, quoted (a job ID may hold any character)."""
    return quote(value, safe="")


class UiApi:
    """One page's view of the API, as the requesting user (their token)."""

    def __init__(self, request: Request) -> None:
        headers = {"Accept": "application/json"}
        token = token_of(request)
        if token:
            headers["X-Nomad-Token"] = token
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=request.app),
            base_url="http://agent.internal",
            headers=headers,
            timeout=TIMEOUT_S,
        )

    async def __aenter__(self) -> UiApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def get(self, path: str, **params: str) -> Any:
        r = await self._client.get(path, params=params)
        return _decode(r, path)

    async def get_as(self, path: str, kind: type[T], **params: str) -> T:
        """GET decoded straight into ``kind`` (msgspec Structs holding only the fields a
        page reads: a list of 10,000 costs a fraction of plain dicts)."""
        r = await self._client.get(path, params=params)
        if r.status_code >= 400:
            raise ApiFailure(r.status_code, r.text.strip()[:2000], path)
        return msgspec.json.decode(r.content, type=kind)

    async def get_or(self, path: str, default: Any, **params: str) -> Any:
        """GET, or ``default`` where the route does not exist or the thing is absent
        (GitOps not configured, no deployment, a client-only agent without members)."""
        try:
            return await self.get(path, **params)
        except ApiFailure as exc:
            if exc.status in (404, 405, 501):
                return default
            raise

    async def text(self, path: str, **params: str) -> str:
        r = await self._client.get(path, params=params)
        if r.status_code >= 400:
            raise ApiFailure(r.status_code, r.text.strip(), path)
        return r.text

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        timeout = SYNC_TIMEOUT_S if path.startswith("/v1/gitops/") else TIMEOUT_S
        r = await self._client.post(path, json=body or {}, timeout=timeout)
        return _decode(r, path)


def _decode(r: httpx.Response, path: str) -> Any:
    if r.status_code >= 400:
        raise ApiFailure(r.status_code, r.text.strip()[:2000], path)
    return msgspec.json.decode(r.content)  # the stdlib's json is ~8x slower on long lists
