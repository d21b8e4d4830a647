"""The HTTP API of a client-only agent (``client { enabled servers = [...] }``).

It answers /v1/agent/health, /v1/agent/self and the /v1/client routes of its own
allocations (logs, fs, stats, restart, signal, gc, exec) itself, and relays every other
/v1 request to a server from ``client.servers``,
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
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from gitorch.api import routes_clientalloc, routes_clientfs, routes_exec, routes_logs
from gitorch.api.app import TokenGate
from gitorch.api.forward import FORWARDED, Relay
from gitorch.api.http import endpoint, error_response, json_response, text_response
from gitorch.api.nodehop import NodeHop
from gitorch.api.routes_status import client_health
from gitorch.api.wsclient import WsRefused
from gitorch.core.bucketmap import BucketMap
from gitorch.core.model import Allocation
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
        view.allocs = BucketMap(self._allocs())
        return view


def make_client_app(
    client: ClientBackend,
    servers: Sequence[str],
    *,
    agent_self: Callable[[], dict[str, Any]],
    local_allocs: Callable[[], Mapping[str, Allocation]],
    acl_tokens: set[str] | None = None,
    relay: Relay | None = None,
    node_hop: NodeHop | None = None,
) -> Starlette:
    addresses = [s.split("://", 1)[-1].rstrip("/") for s in servers]
    hop = relay or Relay(mark=None)
    servers_hop = node_hop or NodeHop()  # exec sessions go to a server over this
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

    def mine(path_params: Mapping[str, Any], node_id: str) -> bool:
        if "alloc_id" in path_params:
            return str(path_params["alloc_id"]) in local_allocs()
        return node_id in ("", client.node_id)

    def local_first(answer: Any) -> Any:
        """Answer here when the allocation (or ``?node_id=``) is this node's, or a
        server sent the request here; else relay it to a server."""

        async def handler(request: Request) -> Response:
            node_id = request.query_params.get("node_id", "")
            if mine(request.path_params, node_id) or request.headers.get(FORWARDED):
                response: Response = await answer(request)
                return response
            return await proxy(request)

        return handler

    backend = cast(Backend, _LocalAllocs(local_allocs))
    answered_here = [
        *routes_clientfs.routes(backend, client),
        *routes_clientalloc.routes(backend, client),
    ]
    client_routes = [
        Route(r.path, local_first(r.endpoint), methods=sorted(r.methods or ()))
        for r in answered_here
        if isinstance(r, Route)
    ]
    exec_route = routes_exec.routes(backend, client)[0]
    assert isinstance(exec_route, WebSocketRoute)
    local_exec = exec_route.endpoint

    async def exec_ws(websocket: WebSocket) -> None:
        if mine(websocket.path_params, "") or websocket.headers.get(FORWARDED):
            await local_exec(websocket)
            return
        last: Exception = WsRefused(0, "no servers configured")
        for address in addresses:  # a server relays it to the node that runs the task
            try:
                await routes_exec.relay(websocket, address, mark=False, hop=servers_hop)
                return
            except WsRefused as exc:
                last = exc
                if exc.status:
                    break
        await routes_exec.refuse(websocket, last)

    routes: list[BaseRoute] = [
        Route("/v1/agent/health", health, methods=["GET"]),
        Route("/v1/agent/self", self_info, methods=["GET"]),
        Route("/v1/client/fs/logs/{alloc_id:str}", logs, methods=["GET"]),
        *client_routes,
        WebSocketRoute(exec_route.path, exec_ws),
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
