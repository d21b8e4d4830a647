"""Node routes: /v1/nodes (with Nomad's ``?resources=true``), /v1/node/pools,
/v1/node/:id, /v1/node/:id/allocations, eligibility and drain."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import (
    blocking_index,
    blocking_node_allocs,
    endpoint,
    json_response,
    query_bool,
    read_object,
)
from gitorch.api.wire import NodeEligibilityResponse, alloc_with_job
from gitorch.core.model import Node, node_stub, replace
from gitorch.core.model.drain import DrainSpec
from gitorch.core.scheduler.pools import node_pools
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
        return replace(node, secret_id="") if node.secret_id else node

    @endpoint
    async def list_nodes(request: Request) -> Response:
        index = await blocking_index(request, backend, NODES)
        prefix = request.query_params.get("prefix", "")
        resources = query_bool(request, "resources")
        nodes = [n for n in list(backend.state.nodes.values()) if n.id.startswith(prefix)]
        nodes.sort(key=lambda n: (n.name, n.id))
        stubs = [node_stub(n, node_version(n), resources=resources) for n in nodes]
        return json_response(stubs, index=index)

    @endpoint
    async def list_pools(request: Request) -> Response:
        index = await blocking_index(request, backend, NODES)
        prefix = request.query_params.get("prefix", "")
        return json_response(node_pools(list(backend.state.nodes.values()), prefix), index=index)

    @endpoint
    async def read_node(request: Request) -> Response:
        index = await blocking_index(request, backend, NODES)
        return json_response(get_node(request), index=index)

    @endpoint
    async def node_allocations(request: Request) -> Response:
        node_id = request.path_params["node_id"]
        index = await blocking_node_allocs(request, backend, node_id)
        state = backend.state
        allocs = state.allocs_for_node(node_id)
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

    @endpoint
    async def drain(request: Request) -> Response:
        body = await read_object(request)
        node_id = request.path_params["node_id"]
        spec, mark_eligible, meta = drain_request(body)
        index, eval_ids = await run_in_threadpool(
            backend.drain_node, node_id, spec, mark_eligible, meta
        )
        resp = NodeEligibilityResponse(
            eval_ids=eval_ids,
            eval_create_index=index if eval_ids else 0,
            node_modify_index=index,
            index=index,
        )
        return json_response(resp, index=index)

    return [
        Route("/v1/nodes", list_nodes, methods=["GET"]),
        Route("/v1/node/pools", list_pools, methods=["GET"]),
        Route("/v1/node/{node_id:str}/drain", drain, methods=["POST", "PUT"]),
        Route("/v1/node/{node_id:str}", read_node, methods=["GET"]),
        Route("/v1/node/{node_id:str}/allocations", node_allocations, methods=["GET"]),
        Route("/v1/node/{node_id:str}/eligibility", eligibility, methods=["POST", "PUT"]),
    ]


def drain_request(body: dict[str, object]) -> tuple[DrainSpec | None, bool, dict[str, str]]:
    """Nomad's NodeUpdateDrainRequest: ``DrainSpec`` (null cancels the drain),
    ``MarkEligible``, ``Meta``."""
    raw = body.get("DrainSpec")
    mark = body.get("MarkEligible", False)
    meta = body.get("Meta") or {}
    if not isinstance(mark, bool):
        raise BadRequestError(f"MarkEligible must be true or false, got {mark!r}")
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise BadRequestError("Meta must be an object of strings")
    if raw is None:
        return None, mark, {str(k): str(v) for k, v in meta.items()}
    if not isinstance(raw, dict):
        raise BadRequestError("DrainSpec must be an object with Deadline and IgnoreSystemJobs")
    deadline = raw.get("Deadline", 0)
    ignore = raw.get("IgnoreSystemJobs", False)
    if not isinstance(deadline, int) or isinstance(deadline, bool) or deadline < -1:
        raise BadRequestError(
            f"DrainSpec.Deadline must be nanoseconds (-1 forces at once, 0 never), got {deadline!r}"
        )
    if not isinstance(ignore, bool):
        raise BadRequestError(f"DrainSpec.IgnoreSystemJobs must be true or false, got {ignore!r}")
    spec = DrainSpec(deadline=deadline, ignore_system_jobs=ignore)
    return spec, mark, {str(k): str(v) for k, v in meta.items()}
