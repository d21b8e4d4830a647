"""Status and agent routes: /v1/status/leader, /v1/status/peers, /v1/agent/self and
/v1/agent/health (Nomad's: 200 when every part of the agent is ok, else 500)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import endpoint, json_response
from gitorch.server.backend import Backend, ClientBackend, ClusterBackend


def client_health(client: ClientBackend) -> tuple[bool, str]:
    """A client is healthy once registered with a server (``client.registered``)."""
    registered = getattr(client, "registered", None)
    if registered is None or registered.is_set():
        return True, "ok"
    return False, "not registered with a server yet"


def routes(
    backend: Backend, client: ClientBackend | None, cluster: ClusterBackend | None = None
) -> list[BaseRoute]:
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
        ok, message = (True, "ok") if cluster is None else cluster.server_health()
        body: dict[str, Any] = {"server": {"ok": ok, "message": message}}
        if client is not None:
            client_ok, client_message = client_health(client)
            body["client"] = {"ok": client_ok, "message": client_message}
            ok = ok and client_ok
        return json_response(body, status_code=200 if ok else 500)

    return [
        Route("/v1/status/leader", leader, methods=["GET"]),
        Route("/v1/status/peers", peers, methods=["GET"]),
        Route("/v1/agent/self", agent_self, methods=["GET"]),
        Route("/v1/agent/health", health, methods=["GET"]),
    ]
