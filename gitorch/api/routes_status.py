"""Status and agent routes: /v1/status/leader, /v1/status/peers, /v1/agent/self and
/v1/agent/health."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import endpoint, json_response
from gitorch.server.backend import Backend, ClientBackend


def routes(backend: Backend, client: ClientBackend | None) -> list[BaseRoute]:
    """The status and agent routes, bound to ``backend`` (and the local client, if any)."""

    @endpoint
    async def leader(request: Request) -> Response:
        return json_response(backend.leader())

    @endpoint
    async def peers(request: Request) -> Response:
        return json_response(backend.peers())

    @endpoint
    async def agent_self(request: Request) -> Response:
        return json_response(backend.agent_self())

    @endpoint
    async def health(request: Request) -> Response:
        body: dict[str, Any] = {"server": {"ok": True, "message": "ok"}}
        if client is not None:
            body["client"] = {"ok": True, "message": "ok"}
        return json_response(body)

    return [
        Route("/v1/status/leader", leader, methods=["GET"]),
        Route("/v1/status/peers", peers, methods=["GET"]),
        Route("/v1/agent/self", agent_self, methods=["GET"]),
        Route("/v1/agent/health", health, methods=["GET"]),
    ]
