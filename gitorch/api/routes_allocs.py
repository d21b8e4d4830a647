"""Allocation and evaluation routes: /v1/allocations (with Nomad's ``?resources=true``
and ``?task_states=false``), /v1/allocation/:id, /v1/evaluations,
/v1/evaluation/:id[/allocations]."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import blocking_index, endpoint, json_response, namespace, query_bool
from gitorch.api.wire import AllocRows, alloc_stub, alloc_with_job
from gitorch.errors import NotFoundError
from gitorch.server.backend import Backend

ALLOCS = ("allocs",)
EVALS = ("evals",)


def routes(backend: Backend) -> list[BaseRoute]:
    """The allocation and evaluation routes, bound to ``backend``."""

    @endpoint
    async def list_allocs(request: Request) -> Response:
        index = await blocking_index(request, backend, ALLOCS)
        state = backend.state
        ns = namespace(request)
        prefix = request.query_params.get("prefix", "")
        resources = query_bool(request, "resources")
        task_states = query_bool(request, "task_states", True)
        allocs = [
            a
            for a in list(state.allocs.values())
            if (ns == "*" or a.namespace == ns) and a.id.startswith(prefix)
        ]
        allocs.sort(key=lambda a: (a.create_index, a.id))
        row = AllocRows(state, resources=resources, task_states=task_states)
        return json_response([row(a) for a in allocs], index=index)

    @endpoint
    async def read_alloc(request: Request) -> Response:
        index = await blocking_index(request, backend, ALLOCS)
        state = backend.state
        alloc = state.allocs.get(request.path_params["alloc_id"])
        if alloc is None:
            raise NotFoundError("alloc not found")
        return json_response(alloc_with_job(state, alloc), index=index)

    @endpoint
    async def list_evals(request: Request) -> Response:
        index = await blocking_index(request, backend, EVALS)
        ns = namespace(request)
        prefix = request.query_params.get("prefix", "")
        job_id = request.query_params.get("job", "")
        status = request.query_params.get("status", "")
        evals = [
            e
            for e in list(backend.state.evals.values())
            if (ns == "*" or e.namespace == ns)
            and e.id.startswith(prefix)
            and (not job_id or e.job_id == job_id)
            and (not status or e.status == status)
        ]
        evals.sort(key=lambda e: (e.create_index, e.id))
        return json_response(evals, index=index)

    @endpoint
    async def read_eval(request: Request) -> Response:
        index = await blocking_index(request, backend, EVALS)
        ev = backend.state.evals.get(request.path_params["eval_id"])
        if ev is None:
            raise NotFoundError("eval not found")
        return json_response(ev, index=index)

    @endpoint
    async def eval_allocs(request: Request) -> Response:
        index = await blocking_index(request, backend, ALLOCS)
        state = backend.state
        eval_id = request.path_params["eval_id"]
        if eval_id not in state.evals:
            raise NotFoundError("eval not found")
        allocs = sorted(
            (a for a in list(state.allocs.values()) if a.eval_id == eval_id),
            key=lambda a: (a.create_index, a.id),
        )
        return json_response([alloc_stub(state, a) for a in allocs], index=index)

    return [
        Route("/v1/allocations", list_allocs, methods=["GET"]),
        Route("/v1/allocation/{alloc_id:str}", read_alloc, methods=["GET"]),
        Route("/v1/evaluations", list_evals, methods=["GET"]),
        Route("/v1/evaluation/{eval_id:str}", read_eval, methods=["GET"]),
        Route("/v1/evaluation/{eval_id:str}/allocations", eval_allocs, methods=["GET"]),
    ]
