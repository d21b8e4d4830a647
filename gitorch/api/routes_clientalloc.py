"""What a user asks of one node's client, as Nomad's /v1/client routes: host stats,
an allocation's resource usage, restart, signal and garbage collection. Answered by
this agent's client when the allocation (or ``?node_id=``) is its own, else relayed to
the node's agent (``gitorch.api.clientproxy``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api import clientproxy
from gitorch.api.http import endpoint, json_response, nomad_headers, read_object
from gitorch.api.nodehop import NodeHop
from gitorch.errors import BadRequestError
from gitorch.server.backend import Backend, ClientBackend

ALLOC = "/v1/client/allocation/{alloc_id:str}"


def routes(
    backend: Backend, client: ClientBackend | None, hop: NodeHop = clientproxy.PLAIN
) -> list[BaseRoute]:
    """The client routes, bound to ``backend`` and the local client agent (if any)."""

    def here(request: Request) -> ClientBackend | None:
        return clientproxy.local_client(backend, client, request.path_params["alloc_id"])

    async def relay(request: Request, what: str) -> Response:
        alloc_id = request.path_params["alloc_id"]
        return await clientproxy.to_alloc_node(request, backend, alloc_id, what, hop)

    async def relay_node(request: Request) -> Response:
        node_id = request.query_params["node_id"]
        return await clientproxy.to_node(request, backend, node_id, "node", hop)

    @endpoint
    async def host_stats(request: Request) -> Response:
        local = clientproxy.local_node(request, client)
        if local is None:
            return await relay_node(request)
        return json_response(local.host_stats())

    @endpoint
    async def gc_all(request: Request) -> Response:
        local = clientproxy.local_node(request, client)
        if local is None:
            return await relay_node(request)
        local.gc_all()
        return Response(b"", headers=nomad_headers())

    @endpoint
    async def alloc_stats(request: Request) -> Response:
        local = here(request)
        if local is None:
            return await relay(request, "the resource usage")
        task = request.query_params.get("task", "")
        return json_response(local.alloc_stats(request.path_params["alloc_id"], task))

    @endpoint
    async def restart(request: Request) -> Response:
        local = here(request)
        if local is None:
            return await relay(request, "the tasks")
        body = await read_object(request, required=False)
        task = _text(body, "TaskName")
        all_tasks = body.get("AllTasks", False)
        if not isinstance(all_tasks, bool):
            raise BadRequestError("AllTasks must be true or false")
        local.restart_alloc(request.path_params["alloc_id"], task, all_tasks)
        return json_response({"Index": 0})

    @endpoint
    async def signal(request: Request) -> Response:
        local = here(request)
        if local is None:
            return await relay(request, "the tasks")
        body = await read_object(request, required=False)
        task, sig = _text(body, "Task"), _text(body, "Signal")
        local.signal_alloc(request.path_params["alloc_id"], task, sig)
        return json_response({"Index": 0})

    @endpoint
    async def gc(request: Request) -> Response:
        local = here(request)
        if local is None:
            return await relay(request, "the allocation")
        local.gc_alloc(request.path_params["alloc_id"])
        return Response(b"", headers=nomad_headers())

    either = ["GET", "POST", "PUT"]  # Nomad's handlers take any method for these
    return [
        Route("/v1/client/stats", host_stats, methods=["GET"]),
        Route("/v1/client/gc", gc_all, methods=either),
        Route(f"{ALLOC}/stats", alloc_stats, methods=["GET"]),
        Route(f"{ALLOC}/restart", restart, methods=["POST", "PUT"]),
        Route(f"{ALLOC}/signal", signal, methods=["POST", "PUT"]),
        Route(f"{ALLOC}/gc", gc, methods=either),
    ]


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequestError(f"{key} must be a string")
    return value
