"""Node routes: /v1/nodes, /v1/node/:id, /v1/node/:id/allocations and eligibility."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import blocking_index, endpoint, json_response, read_object
from gitorch.api.wire import NodeEligibilityResponse, alloc_with_job
from gitorch.core.model import Node, node_stub
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.backend import Backend

NODES = ("nodes",)


def node_version(node: Node) -> str:
    """The agent version a node reports in its attributes."""
    return node.attributes.get("gitorch.version") or node.attributes.get("nomad.version", "")


def routes(backend: Backend) -> list[BaseRoute]:
    """The node routes, bound to ``backend``."""

    def get_node(request: Request) -> Node:
        node = backend.state.nodes.get(request.path_params["node_id"])
        if node is None:
            raise NotFoundError("node not found")
        return node

    @endpoint
    async def list_nodes(request: Request) -> Response:
        index = await blocking_index(request, backend, NODES)
        prefix = request.query_params.get("prefix", "")
        nodes = [n for n in list(backend.state.nodes.values()) if n.id.startswith(prefix)]
        nodes.sort(key=lambda n: (n.name, n.id))
        return json_response([node_stub(n, node_version(n)) for n in nodes], index=index)

    @endpoint
    async def read_node(request: Request) -> Response:
        index = await blocking_index(request, backend, NODES)
        return json_response(get_node(request), index=index)

    @endpoint
    async def node_allocations(request: Request) -> Response:
        index = await blocking_index(request, backend, ("allocs",))
        state = backend.state
        allocs = state.allocs_for_node(request.path_params["node_id"])
        return json_response([alloc_with_job(state, a) for a in allocs], index=index)

    @endpoint
    async def eligibility(request: Request) -> Response:
        body = await read_object(request)
        value = body.get("Eligibility")
        if value not in ("eligible", "ineligible"):
            raise BadRequestError(f"invalid scheduling eligibility {value!r}")
        node = get_node(request)
        index = await run_in_threadpool(backend.set_node_eligibility, node.id, value == "eligible")
        return json_response(
            NodeEligibilityResponse(node_modify_index=index, index=index), index=index
        )

    return [
        Route("/v1/nodes", list_nodes, methods=["GET"]),
        Route("/v1/node/{node_id:str}", read_node, methods=["GET"]),
        Route("/v1/node/{node_id:str}/allocations", node_allocations, methods=["GET"]),
        Route("/v1/node/{node_id:str}/eligibility", eligibility, methods=["POST", "PUT"]),
    ]
