"""Deployment routes, as Nomad's: /v1/deployments, /v1/deployment/:id and its actions
(promote, fail, pause), /v1/job/:id/deployment(s), /v1/job/:id/revert and /stable."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import (
    blocking_index,
    endpoint,
    json_response,
    namespace,
    read_object,
)
from gitorch.api.wire import alloc_stub
from gitorch.core.model import Deployment, Model
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.backend import Backend

TABLES = ("deployments",)


class DeploymentUpdateResponse(Model, frozen=True, kw_only=True):
    """Nomad's DeploymentUpdateResponse (the eval is created by the write itself)."""

    index: int
    deployment_modify_index: int
    eval_id: str = ""
    eval_create_index: int = 0
    reverted_job_version: int | None = None


class JobStabilityResponse(Model, frozen=True, kw_only=True):
    index: int
    job_modify_index: int


def routes(backend: Backend) -> list[BaseRoute]:
    def lookup(deployment_id: str) -> Deployment:
        state = backend.state
        d = state.deployments.get(deployment_id)
        if d is None:  # Nomad accepts a unique prefix
            found = [x for x in state.deployments.values() if x.id.startswith(deployment_id)]
            if len(found) == 1:
                return found[0]
            raise NotFoundError(f"deployment {deployment_id} not found")
        return d

    def job_of(request: Request) -> tuple[str, str]:
        ns, job_id = namespace(request), request.path_params["job_id"]
        if backend.state.job(ns, job_id) is None:
            raise NotFoundError(f"job {job_id!r} not found")
        return ns, job_id

    def updated(index: int, deployment_id: str) -> Response:
        d = backend.state.deployments.get(deployment_id)
        body = DeploymentUpdateResponse(
            index=index, deployment_modify_index=d.modify_index if d else index
        )
        return json_response(body, index=index)

    @endpoint
    async def list_deployments(request: Request) -> Response:
        index = await blocking_index(request, backend, TABLES)
        ns, prefix = namespace(request), request.query_params.get("prefix", "")
        found = [
            d
            for d in list(backend.state.deployments.values())
            if (ns == "*" or d.namespace == ns) and d.id.startswith(prefix)
        ]
        found.sort(key=lambda d: -d.create_index)
        return json_response(found, index=index)

    @endpoint
    async def read(request: Request) -> Response:
        index = await blocking_index(request, backend, TABLES)
        return json_response(lookup(request.path_params["id"]), index=index)

    @endpoint
    async def allocations(request: Request) -> Response:
        index = await blocking_index(request, backend, ("allocs", "deployments"))
        d = lookup(request.path_params["id"])
        state = backend.state
        mine = [a for a in state.allocs_for_job(d.namespace, d.job_id) if a.deployment_id == d.id]
        return json_response([alloc_stub(state, a) for a in mine], index=index)

    @endpoint
    async def promote(request: Request) -> Response:
        d = lookup(request.path_params["id"])
        body = await read_object(request, required=False)
        groups = body.get("Groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise BadRequestError('"Groups" must be a list of task group names')
        all_groups = bool(body.get("All", not groups))
        ops = backend.deployments
        index = await run_in_threadpool(ops.promote, d.id, groups, all_groups)
        return updated(index, d.id)

    @endpoint
    async def fail(request: Request) -> Response:
        d = lookup(request.path_params["id"])
        index = await run_in_threadpool(backend.deployments.fail, d.id)
        return updated(index, d.id)

    @endpoint
    async def pause(request: Request) -> Response:
        d = lookup(request.path_params["id"])
        body = await read_object(request, required=False)
        pause_it = body.get("Pause", True)
        if not isinstance(pause_it, bool):
            raise BadRequestError('"Pause" must be true or false')
        index = await run_in_threadpool(backend.deployments.pause, d.id, pause_it)
        return updated(index, d.id)

    @endpoint
    async def job_deployments(request: Request) -> Response:
        index = await blocking_index(request, backend, TABLES)
        ns, job_id = job_of(request)
        return json_response(backend.state.deployments_for_job(ns, job_id), index=index)

    @endpoint
    async def job_deployment(request: Request) -> Response:
        index = await blocking_index(request, backend, TABLES)
        ns, job_id = job_of(request)
        latest = backend.state.deployments_for_job(ns, job_id)
        return json_response(latest[0] if latest else None, index=index)

    @endpoint
    async def revert(request: Request) -> Response:
        ns, job_id = job_of(request)
        body = await read_object(request)
        version = _version(body, "JobVersion")
        prior = body.get("EnforcePriorVersion")
        if prior is not None:
            prior = _version(body, "EnforcePriorVersion")
        index = await run_in_threadpool(backend.deployments.revert_job, ns, job_id, version, prior)
        stored = backend.state.job(ns, job_id)
        modify = stored.job_modify_index if stored else index
        return json_response({"Index": index, "JobModifyIndex": modify}, index=index)

    @endpoint
    async def stable(request: Request) -> Response:
        ns, job_id = job_of(request)
        body = await read_object(request)
        version = _version(body, "JobVersion")
        flag = body.get("Stable", True)
        if not isinstance(flag, bool):
            raise BadRequestError('"Stable" must be true or false')
        index = await run_in_threadpool(backend.deployments.set_stable, ns, job_id, version, flag)
        return json_response(JobStabilityResponse(index=index, job_modify_index=index), index=index)

    return [
        Route("/v1/deployments", list_deployments, methods=["GET"]),
        Route("/v1/deployment/allocations/{id:str}", allocations, methods=["GET"]),
        Route("/v1/deployment/promote/{id:str}", promote, methods=["POST", "PUT"]),
        Route("/v1/deployment/fail/{id:str}", fail, methods=["POST", "PUT"]),
        Route("/v1/deployment/pause/{id:str}", pause, methods=["POST", "PUT"]),
        Route("/v1/deployment/{id:str}", read, methods=["GET"]),
        Route("/v1/job/{job_id:str}/deployments", job_deployments, methods=["GET"]),
        Route("/v1/job/{job_id:str}/deployment", job_deployment, methods=["GET"]),
        Route("/v1/job/{job_id:str}/revert", revert, methods=["POST", "PUT"]),
        Route("/v1/job/{job_id:str}/stable", stable, methods=["POST", "PUT"]),
    ]


def _version(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequestError(f'"{name}" must be a job version (a whole number >= 0)')
    return value
