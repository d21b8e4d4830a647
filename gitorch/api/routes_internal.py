"""Routes client agents call on servers: node registration, heartbeats and allocation
status updates (Nomad does these over RPC; gitorch over HTTP under /v1/internal)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import decode_as, endpoint, json_response, read_object
from gitorch.api.wire import AllocUpdateResponse
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.model import Node
from gitorch.core.model.service import CheckResult, ServiceRegistration
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.backend import Backend


def routes(backend: Backend) -> list[BaseRoute]:
    """The internal agent routes, bound to ``backend``."""

    @endpoint
    async def register_node(request: Request) -> Response:
        body = await read_object(request)
        raw = body["Node"] if "Node" in body and "ID" not in body else body
        node = decode_as(raw, Node, "node")
        if not node.id:
            raise BadRequestError("missing node ID")
        result = await run_in_threadpool(backend.register_node, node)
        return json_response(result, index=result.index)

    @endpoint
    async def heartbeat(request: Request) -> Response:
        node_id = request.path_params["node_id"]
        if node_id not in backend.state.nodes:
            raise NotFoundError(f"node {node_id} not found: register it first")
        secret = request.headers.get("x-nomad-token", "")
        bearer = request.headers.get("authorization", "")
        if not secret and bearer.lower().startswith("bearer "):
            secret = bearer[7:].strip()
        result = await run_in_threadpool(backend.heartbeat, node_id, secret)
        return json_response(result, index=result.index)

    @endpoint
    async def update_allocs(request: Request) -> Response:
        body = await read_object(request)
        updates = decode_as(body.get("Allocs") or [], list[AllocClientUpdate], "alloc updates")
        if not updates:  # nothing to record: no Raft entry
            index = backend.state.index
            return json_response(AllocUpdateResponse(index=index), index=index)
        index = await run_in_threadpool(backend.update_allocs, updates)
        return json_response(AllocUpdateResponse(index=index), index=index)

    @endpoint
    async def register_services(request: Request) -> Response:
        body = await read_object(request)
        regs = decode_as(body.get("Services") or [], list[ServiceRegistration], "services")
        index = await run_in_threadpool(backend.upsert_services, regs) if regs else 0
        index = index or backend.state.index
        return json_response(AllocUpdateResponse(index=index), index=index)

    @endpoint
    async def deregister_services(request: Request) -> Response:
        body = await read_object(request)
        alloc_ids = decode_as(body.get("AllocIDs") or [], list[str], "alloc IDs")
        index = await run_in_threadpool(backend.delete_services, [], alloc_ids)
        return json_response(AllocUpdateResponse(index=index), index=index)

    @endpoint
    async def update_checks(request: Request) -> Response:
        body = await read_object(request)
        alloc_id = decode_as(body.get("AllocID") or "", str, "alloc ID")
        if not alloc_id:
            raise BadRequestError("missing AllocID")
        results = decode_as(body.get("Results") or [], list[CheckResult], "check results")
        index = await run_in_threadpool(backend.update_checks, alloc_id, results)
        return json_response(AllocUpdateResponse(index=index), index=index)

    return [
        Route("/v1/internal/services/register", register_services, methods=["PUT", "POST"]),
        Route("/v1/internal/services/deregister", deregister_services, methods=["PUT", "POST"]),
        Route("/v1/internal/checks/update", update_checks, methods=["PUT", "POST"]),
        Route("/v1/internal/node/register", register_node, methods=["POST", "PUT"]),
        Route("/v1/internal/node/{node_id:str}/heartbeat", heartbeat, methods=["POST", "PUT"]),
        Route("/v1/internal/allocs/update", update_allocs, methods=["POST", "PUT"]),
    ]
