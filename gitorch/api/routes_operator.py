"""Cluster membership routes: /v1/operator/raft/configuration, DELETE
/v1/operator/raft/peer and /v1/agent/members, in Nomad's shapes."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import endpoint, json_response
from gitorch.errors import BadRequestError
from gitorch.server.backend import ClusterBackend


def routes(cluster: ClusterBackend) -> list[BaseRoute]:
    """The operator and members routes, bound to this server's cluster view."""

    @endpoint
    async def raft_configuration(request: Request) -> Response:
        config = await run_in_threadpool(cluster.raft_configuration)
        return json_response(config, index=config.index)

    @endpoint
    async def remove_peer(request: Request) -> Response:
        address = request.query_params.get("address") or request.query_params.get("id")
        if not address:
            raise BadRequestError("Must specify either ?id with the server's ID or ?address")
        index = await run_in_threadpool(cluster.remove_raft_peer, address)
        return json_response(None, index=index)

    @endpoint
    async def members(request: Request) -> Response:
        return json_response(await run_in_threadpool(cluster.agent_members))

    return [
        Route("/v1/operator/raft/configuration", raft_configuration, methods=["GET"]),
        Route("/v1/operator/raft/peer", remove_peer, methods=["DELETE"]),
        Route("/v1/agent/members", members, methods=["GET"]),
    ]
