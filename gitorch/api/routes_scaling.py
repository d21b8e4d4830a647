"""``/v1/scaling/policies`` and ``/v1/scaling/policy/:id``: the groups' horizontal
scaling policies, for an external autoscaler (gitorch.core.scalingpolicies)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import blocking_index, endpoint, json_response, namespace
from gitorch.core.scalingpolicies import find_policy, list_policies, stub
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.backend import Backend

JOBS = ("jobs",)  # policies change only with their jobs


def routes(backend: Backend) -> list[BaseRoute]:
    @endpoint
    async def policies(request: Request) -> Response:
        index = await blocking_index(request, backend, JOBS)
        q = request.query_params
        kind = q.get("type", "")
        if kind and kind not in ("horizontal", "vertical_cpu", "vertical_mem"):
            raise BadRequestError(f"unknown scaling policy type {kind[:40]!r}")
        found = list_policies(
            backend.state,
            namespace(request),
            job_id=q.get("job", ""),
            kind=kind,
            prefix=q.get("prefix", ""),
        )
        return json_response([stub(p) for p in found], index=max(index, 1))

    @endpoint
    async def policy(request: Request) -> Response:
        index = await blocking_index(request, backend, JOBS)
        found = find_policy(backend.state, request.path_params["policy_id"])
        if found is None:
            raise NotFoundError("scaling policy not found")
        return json_response(found, index=max(index, 1))

    return [
        Route("/v1/scaling/policies", policies, methods=["GET"]),
        Route("/v1/scaling/policy/{policy_id:str}", policy, methods=["GET"]),
    ]
