"""GitOps routes: /v1/gitops/status, /sync, /history, /job/:id/suspend and /resume,
and /webhook."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import (
    blocking_index,
    endpoint,
    json_response,
    read_body,
    read_object,
    text_response,
)
from gitorch.core.model import Job
from gitorch.core.state import StateView
from gitorch.errors import BadRequestError, ConflictError
from gitorch.server.backend import Backend

SIGNATURE_HEADER = "X-Hub-Signature-256"
WEBHOOK_MAX_BYTES = 25 << 20  # GitHub caps webhook payloads at 25 MB


def routes(backend: Backend) -> list[BaseRoute]:
    """The GitOps routes, bound to ``backend``."""

    @endpoint
    async def status(request: Request) -> Response:
        index = await blocking_index(request, backend, ("gitops",))
        return json_response(await run_in_threadpool(backend.gitops_status), index=index)

    @endpoint
    async def sync(request: Request) -> Response:
        body = await read_object(request, required=False)
        dry_run = body.get("DryRun", False)
        if not isinstance(dry_run, bool):
            raise BadRequestError(f"DryRun must be a bool, not {dry_run!r}")
        revision = body.get("Revision", "") or ""
        if not isinstance(revision, str):
            raise BadRequestError(f"Revision must be a commit SHA string, not {revision!r}")
        expected = body.get("Commit", "") or ""
        if not isinstance(expected, str) or (
            expected and not re.fullmatch(r"[0-9a-fA-F]{7,64}", expected.strip())
        ):
            raise BadRequestError(f"Commit must be a commit SHA string, not {expected!r}")
        report = await run_in_threadpool(
            backend.gitops_sync, dry_run, revision.strip(), expected.strip()
        )
        return json_response(report, index=backend.state.table_index.get("gitops", 0))

    @endpoint
    async def history(request: Request) -> Response:
        index = await blocking_index(request, backend, ("gitops",))
        return json_response(await run_in_threadpool(backend.gitops_history), index=index)

    def suspender(suspended: bool) -> Callable[[Request], Awaitable[Response]]:
        @endpoint
        async def handler(request: Request) -> Response:
            job_id = request.path_params["job_id"]
            index = await run_in_threadpool(backend.gitops_suspend, job_id, suspended)
            return json_response({"JobID": job_id, "Suspended": suspended}, index=index)

        return handler

    @endpoint
    async def webhook(request: Request) -> Response:
        body = await read_body(request, limit=WEBHOOK_MAX_BYTES)
        accepted = await run_in_threadpool(
            backend.gitops_webhook, body, request.headers.get(SIGNATURE_HEADER)
        )
        if not accepted:
            return text_response("Permission denied", 403)
        return json_response({"Accepted": True}, status_code=202)

    return [
        Route("/v1/gitops/status", status, methods=["GET"]),
        Route("/v1/gitops/sync", sync, methods=["POST", "PUT"]),
        Route("/v1/gitops/history", history, methods=["GET"]),
        Route("/v1/gitops/job/{job_id:jobid}/suspend", suspender(True), methods=["POST", "PUT"]),
        Route("/v1/gitops/job/{job_id:jobid}/resume", suspender(False), methods=["POST", "PUT"]),
        Route("/v1/gitops/webhook", webhook, methods=["POST"]),
    ]


def refuse_git_managed(state: StateView, job: Job) -> None:
    """A hand-made stop of a Git-managed job whose auto-sync runs would be undone by the
    next sync: refuse it (409) with what to do instead, unless ``?force=true``."""
    sync = state.gitsync
    if job.source is None or job.stop or job.id in sync.suspended:
        return
    if sync.files.get(job.source.file) != job.id:
        return
    raise ConflictError(
        f"job {job.id!r} is managed by GitOps (file {job.source.file} at commit "
        f"{job.source.commit[:12]}): the next sync would start it again. Delete the file "
        f"from the repository, or suspend its auto-sync first (gitorch gitops suspend "
        f"{job.id}); stop it anyway with -force (?force=true)"
    )
