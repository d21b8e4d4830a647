"""GitOps routes: /v1/gitops/status, /v1/gitops/sync and /v1/gitops/webhook."""

from __future__ import annotations

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
from gitorch.errors import BadRequestError
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
        report = await run_in_threadpool(backend.gitops_sync, dry_run)
        return json_response(report, index=backend.state.table_index.get("gitops", 0))

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
        Route("/v1/gitops/webhook", webhook, methods=["POST"]),
    ]
