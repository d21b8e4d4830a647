"""The HTTP API of a client-only agent (``client { enabled servers = [...] }``).

It answers /v1/agent/health, /v1/agent/self and the logs of its own allocations
itself, and relays every other /v1 request to a server from ``client.servers``,
moving on to the next one when a server cannot be reached (Nomad's client agents
forward RPCs the same way). A relayed response is buffered: follow a log stream on the
agent that runs the task, or through a server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api import routes_logs
from gitorch.api.app import TokenGate
from gitorch.api.forward import FORWARDED, Relay
from gitorch.api.http import endpoint, error_response, json_response, text_response
from gitorch.api.routes_status import client_health
from gitorch.core.model import Allocation
from gitorch.core.pmap import PMap
from gitorch.core.state import StateView
from gitorch.server.backend import Backend, ClientBackend

_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]


class _LocalAllocs:
    """The logs route's view of state on a client agent: its own allocations."""

    def __init__(self, allocs: Callable[[], Mapping[str, Allocation]]) -> None:
        self._allocs = allocs

    @property
    def state(self) -> StateView:
        view = StateView()
        view.allocs = PMap(self._allocs())
        return view


def make_client_app(
    client: ClientBackend,
    servers: Sequence[str],
    *,
    agent_self: Callable[[], dict[str, Any]],
    local_allocs: Callable[[], Mapping[str, Allocation]],
    acl_tokens: set[str] | None = None,
    relay: Relay | None = None,
) -> Starlette:
    addresses = [s.split("://", 1)[-1].rstrip("/") for s in servers]
    hop = relay or Relay(mark=None)
    local_logs = routes_logs.routes(cast(Backend, _LocalAllocs(local_allocs)), client)[0]
    assert isinstance(local_logs, Route)
    logs_endpoint = local_logs.endpoint

    async def proxy(request: Request) -> Response:
        body = await request.body()
        return await hop.send(request, body, lambda: addresses)

    @endpoint
    async def health(request: Request) -> Response:
        ok, message = client_health(client)
        return json_response(
            {"client": {"ok": ok, "message": message}}, status_code=200 if ok else 500
        )

    @endpoint
    async def self_info(request: Request) -> Response:
        return json_response(agent_self())

    @endpoint
    async def logs(request: Request) -> Response:
        local = request.path_params["alloc_id"] in local_allocs()
        if local or request.headers.get(FORWARDED):  # a server sent it here: answer it
            response: Response = await logs_endpoint(request)
            return response
        return await proxy(request)

    routes: list[BaseRoute] = [
        Route("/v1/agent/health", health, methods=["GET"]),
        Route("/v1/agent/self", self_info, methods=["GET"]),
        Route("/v1/client/fs/logs/{alloc_id:str}", logs, methods=["GET"]),
        Route("/v1/{rest:path}", endpoint(proxy), methods=_METHODS),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return text_response("Invalid URL path or method", 404)

    async def server_error(request: Request, exc: Exception) -> Response:
        return error_response(exc)

    return Starlette(
        routes=routes,
        middleware=[] if acl_tokens is None else [Middleware(TokenGate, tokens=acl_tokens)],
        exception_handlers={404: not_found, 500: server_error},
    )
