"""Job routes: /v1/jobs, /v1/jobs/parse, /v1/validate/job and /v1/job/:id[/...]."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import (
    blocking_index,
    decode_job,
    endpoint,
    job_from_body,
    json_response,
    namespace,
    query_bool,
    read_object,
)
from gitorch.api.routes_gitops import refuse_git_managed
from gitorch.api.routes_launch import launch_routes
from gitorch.api.submission import submission_from_body
from gitorch.api.wire import (
    JobValidateResponse,
    JobVersionsResponse,
    alloc_stub,
    job_stub,
    job_summary,
)
from gitorch.core.jobdiff import job_diff
from gitorch.core.model import Job
from gitorch.core.model.base import replace
from gitorch.core.state import StateView
from gitorch.errors import BadRequestError, ConflictError, JobspecError, NotFoundError
from gitorch.jobspec.apicheck import check_api_job
from gitorch.jobspec.isolate import parse_isolated
from gitorch.jobspec.validate import problems as job_problems
from gitorch.jobspec.validate import validate
from gitorch.jobspec.warnings import JobspecWarning, joined
from gitorch.plugins.validation import installed_driver_check
from gitorch.server.backend import Backend

JOBS = ("jobs",)
PARSE_PATH = "request.nomad.hcl"


def routes(backend: Backend) -> list[BaseRoute]:
    """The job routes, bound to ``backend``."""

    def get_job(request: Request) -> Job:
        job = backend.state.job(namespace(request), request.path_params["job_id"])
        if job is None:
            raise NotFoundError("job not found")
        return job

    @endpoint
    async def list_jobs(request: Request) -> Response:
        index = await blocking_index(request, backend, JOBS)
        state = backend.state
        ns = namespace(request)
        prefix = request.query_params.get("prefix", "")
        jobs = [
            j
            for j in list(state.jobs.values())
            if (ns == "*" or j.namespace == ns) and j.id.startswith(prefix)
        ]
        jobs.sort(key=lambda j: (j.namespace, j.id))
        return json_response([job_stub(state, j) for j in jobs], index=index)

    @endpoint
    async def register(request: Request) -> Response:
        body = await read_object(request)
        path_id = request.path_params.get("job_id")
        warnings = check_api_job(body.get("Job"))  # what the JSON asks that gitorch lacks
        job = job_from_body(body, request, path_id)
        validate(job, driver_check=installed_driver_check())
        _check_index(backend.state, job, body)
        submission = submission_from_body(body)
        result = await run_in_threadpool(backend.register_job, job, submission)
        if warnings:
            result = replace(result, warnings=_joined(result.warnings, warnings))
        return json_response(result, index=result.index)

    @endpoint
    async def read_job(request: Request) -> Response:
        index = await blocking_index(request, backend, JOBS)
        return json_response(get_job(request), index=index)

    @endpoint
    async def deregister(request: Request) -> Response:
        job = get_job(request)
        purge = query_bool(request, "purge")
        if not query_bool(request, "force"):
            refuse_git_managed(backend.state, job)
        result = await run_in_threadpool(backend.deregister_job, job.namespace, job.id, purge)
        return json_response(result, index=result.index)

    @endpoint
    async def job_allocations(request: Request) -> Response:
        index = await blocking_index(request, backend, ("allocs",))
        job = get_job(request)
        state = backend.state
        allocs = state.allocs_for_job(job.namespace, job.id)
        return json_response([alloc_stub(state, a) for a in allocs], index=index)

    @endpoint
    async def job_evaluations(request: Request) -> Response:
        index = await blocking_index(request, backend, ("evals",))
        job = get_job(request)
        return json_response(backend.state.evals_for_job(job.namespace, job.id), index=index)

    @endpoint
    async def job_versions(request: Request) -> Response:
        index = await blocking_index(request, backend, JOBS)
        job = get_job(request)
        versions = backend.state.job_versions(job.namespace, job.id)
        diffs = None
        if query_bool(request, "diffs"):  # newest first: each against the one before it
            diffs = [job_diff(old, new) for new, old in zip(versions, versions[1:], strict=False)]
        return json_response(JobVersionsResponse(versions=versions, diffs=diffs), index=index)

    @endpoint
    async def job_submission(request: Request) -> Response:
        index = await blocking_index(request, backend, JOBS)
        raw = request.query_params.get("version", "")
        if not raw.isdigit():
            raise BadRequestError("Unable to parse job submission version parameter")
        ns, job_id = namespace(request), request.path_params["job_id"]
        found = backend.state.submissions.get(ns, job_id, int(raw))
        if found is None:
            raise NotFoundError("job source not found")
        return json_response(found, index=index)

    @endpoint
    async def summary(request: Request) -> Response:
        index = await blocking_index(request, backend, ("jobs", "allocs", "evals"))
        return json_response(job_summary(backend.state, get_job(request)), index=index)

    @endpoint
    async def plan(request: Request) -> Response:
        body = await read_object(request)
        warnings = check_api_job(body.get("Job"))
        job = job_from_body(body, request, request.path_params["job_id"])
        validate(job, driver_check=installed_driver_check())
        result = await run_in_threadpool(backend.plan_job, job, bool(body.get("Diff", False)))
        if warnings:
            result = replace(result, warnings=_joined(result.warnings, warnings))
        return json_response(result, index=backend.state.index)

    @endpoint
    async def parse(request: Request) -> Response:
        body = await read_object(request)
        hcl = body.get("JobHCL")
        if not isinstance(hcl, str) or not hcl.strip():
            raise BadRequestError("Job spec is empty")
        # In a budgeted worker process, as Git files are: a hostile spec sent here can
        # neither stall the API nor exhaust the agent's memory.
        parsed = await run_in_threadpool(parse_isolated, PARSE_PATH, hcl)
        if isinstance(parsed, JobspecError):
            raise parsed
        return json_response(parsed)

    @endpoint
    async def validate_job(request: Request) -> Response:
        body = await read_object(request)
        if body.get("Job") is None:
            raise BadRequestError("Job must be specified")
        warnings, problems = [], []
        try:
            warnings = check_api_job(body["Job"])
        except JobspecError as exc:
            problems = [p.located() for p in exc.problems]
        job = decode_job(body["Job"], default_namespace=namespace(request))
        problems += [
            f"{where}: {message}" for where, message in job_problems(job, installed_driver_check())
        ]
        error = ""
        if problems:
            bullets = "".join(f"\n\t* {p}" for p in problems)
            error = f"{len(problems)} error{'s' if len(problems) > 1 else ''} occurred:{bullets}"
        response = JobValidateResponse(
            validation_errors=problems, error=error, warnings=joined(warnings)
        )
        return json_response(response)

    return [
        Route("/v1/jobs", list_jobs, methods=["GET"]),
        Route("/v1/jobs", register, methods=["POST", "PUT"]),
        Route("/v1/jobs/parse", parse, methods=["POST", "PUT"]),
        Route("/v1/validate/job", validate_job, methods=["POST", "PUT"]),
        Route("/v1/job/{job_id:jobid}", read_job, methods=["GET"]),
        Route("/v1/job/{job_id:jobid}", register, methods=["POST", "PUT"]),
        Route("/v1/job/{job_id:jobid}", deregister, methods=["DELETE"]),
        Route("/v1/job/{job_id:jobid}/allocations", job_allocations, methods=["GET"]),
        Route("/v1/job/{job_id:jobid}/evaluations", job_evaluations, methods=["GET"]),
        Route("/v1/job/{job_id:jobid}/versions", job_versions, methods=["GET"]),
        Route("/v1/job/{job_id:jobid}/submission", job_submission, methods=["GET"]),
        Route("/v1/job/{job_id:jobid}/summary", summary, methods=["GET"]),
        Route("/v1/job/{job_id:jobid}/plan", plan, methods=["POST", "PUT"]),
        *launch_routes(backend, get_job),
    ]


def _check_index(state: StateView, job: Job, body: dict[str, Any]) -> None:
    """Nomad's check-and-set register (``EnforceIndex`` with ``JobModifyIndex``)."""
    if not body.get("EnforceIndex"):
        return
    want = body.get("JobModifyIndex", 0)
    current = state.job(job.namespace, job.id)
    have = current.job_modify_index if current else 0
    if want != have:
        if current is None:
            raise ConflictError(f"Enforcing job modify index {want}: job does not exist")
        raise ConflictError(
            f"Enforcing job modify index {want}: job exists with conflicting job modify "
            f"index: {have}"
        )


def _joined(server: str, warnings: list[JobspecWarning]) -> str:
    """Nomad's ``Warnings``: the server's own, then the job's, one a line."""
    return "\n".join(w for w in (server, joined(warnings)) if w)
