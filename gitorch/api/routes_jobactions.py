"""Operator actions on jobs and allocations, as Nomad's: ``POST /v1/allocation/:id/stop``
(stop it; an evaluation places its replacement), ``POST /v1/job/:id/evaluate`` (a new
evaluation of the job as it stands), ``GET /v1/job/:id/scale`` (each group's desired,
placed, running and healthy counts) and ``POST /v1/job/:id/scale`` (a new job version
with one group's count changed)."""

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
    query_bool,
    read_object,
)
from gitorch.core.model import Job, replace
from gitorch.core.state import StateView
from gitorch.errors import BadRequestError, ConflictError, NotFoundError
from gitorch.server.backend import Backend
from gitorch.server.useractions import UserActions


def scale_status(state: StateView, job: Job) -> dict[str, Any]:
    """Nomad's JobScaleStatus."""
    allocs = state.allocs_for_job(job.namespace, job.id)
    groups: dict[str, Any] = {}
    for group in job.task_groups:
        mine = [a for a in allocs if a.task_group == group.name and a.job_version == job.version]
        health = [a.deployment_status.healthy for a in mine if a.deployment_status is not None]
        groups[group.name] = {
            "Desired": group.count,
            "Placed": sum(1 for a in mine if a.desired_status == "run"),
            "Running": sum(1 for a in mine if a.client_status == "running"),
            "Healthy": sum(1 for h in health if h is True),
            "Unhealthy": sum(1 for h in health if h is False),
            "Events": None,
        }
    return {
        "JobID": job.id,
        "Namespace": job.namespace,
        "JobCreateIndex": job.create_index,
        "JobModifyIndex": job.job_modify_index,
        "JobStopped": job.stop,
        "TaskGroups": groups,
    }


def scaled(job: Job, body: dict[str, Any]) -> Job:
    """``job`` with the target group at the requested count, or 400 saying why not."""
    count = body.get("Count")
    target = body.get("Target") or {}
    group = target.get("Group") if isinstance(target, dict) else None
    if not isinstance(group, str) or not group:
        raise BadRequestError("missing task group name for scaling action")
    if not isinstance(count, int) or isinstance(count, bool):
        raise BadRequestError("Count must be set to a whole number")
    if count < 0:
        raise BadRequestError("scaling action count can't be negative")
    if job.group(group) is None:
        raise BadRequestError(f"task group {group!r} specified for scaling does not exist")
    if job.is_parent():
        raise BadRequestError("cannot scale a periodic or parameterized job")
    groups = [replace(g, count=count) if g.name == group else g for g in job.task_groups]
    return replace(job, task_groups=groups)


def _git_managed(state: StateView, job: Job) -> bool:
    sync = state.gitsync
    if job.source is None or job.id in sync.suspended:
        return False
    return sync.files.get(job.source.file) == job.id


def routes(backend: Backend, actions: UserActions) -> list[BaseRoute]:
    def get_job(request: Request) -> Job:
        job = backend.state.job(namespace(request), request.path_params["job_id"])
        if job is None:
            raise NotFoundError("job not found")
        return job

    @endpoint
    async def stop_alloc(request: Request) -> Response:
        alloc_id = request.path_params["alloc_id"]
        index, eval_id = await run_in_threadpool(actions.stop_alloc, alloc_id)
        return json_response({"EvalID": eval_id, "Index": index}, index=index)

    @endpoint
    async def evaluate(request: Request) -> Response:
        job = get_job(request)
        index, eval_id, modify = await run_in_threadpool(
            actions.evaluate_job, job.namespace, job.id
        )
        body = {
            "EvalID": eval_id,
            "EvalCreateIndex": index,
            "JobModifyIndex": modify,
            "Warnings": "",
            "Index": index,
        }
        return json_response(body, index=index)

    @endpoint
    async def read_scale(request: Request) -> Response:
        index = await blocking_index(request, backend, ("jobs", "allocs"))
        return json_response(scale_status(backend.state, get_job(request)), index=index)

    @endpoint
    async def scale(request: Request) -> Response:
        body = await read_object(request)
        job = get_job(request)
        new = scaled(job, body)
        if _git_managed(backend.state, job) and not query_bool(request, "force"):
            where = job.source.file if job.source else ""
            raise ConflictError(
                f"job {job.id!r} is managed by GitOps (file {where}):"
                " the next sync would set the count from Git again. Change the count in the "
                f"repository, or suspend its auto-sync first (gitorch gitops suspend {job.id}); "
                "scale it anyway with ?force=true"
            )
        result = await run_in_threadpool(backend.register_job, new)
        return json_response(result, index=result.index)

    return [
        Route("/v1/allocation/{alloc_id:str}/stop", stop_alloc, methods=["POST", "PUT"]),
        Route("/v1/job/{job_id:jobid}/evaluate", evaluate, methods=["POST", "PUT"]),
        Route("/v1/job/{job_id:jobid}/scale", read_scale, methods=["GET"]),
        Route("/v1/job/{job_id:jobid}/scale", scale, methods=["POST", "PUT"]),
    ]
