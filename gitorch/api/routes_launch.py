"""Routes that launch child jobs: ``POST /v1/job/:id/dispatch`` (a parameterized job)
and ``POST /v1/job/:id/periodic/force`` (a periodic job, now).

Child job IDs hold a ``/`` (``batch/periodic-1700000000``,
``render/dispatch-1700000000-0a1b2c3d``), so the job routes match the ID with the
``jobid`` convertor registered here: one path segment, followed by any number of
``/periodic-...`` or ``/dispatch-...`` segments. A client may send the ``/`` as is or
as ``%2F`` (Nomad's clients escape it); both reach the same route.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import decode_as, endpoint, json_response, read_object
from gitorch.core.model import Job, Model
from gitorch.server.backend import Backend


class JobIDConvertor(Convertor[str]):
    regex = r"[^/]+(?:/(?:periodic|dispatch)-[^/]+)*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("jobid", JobIDConvertor())


class JobDispatchRequest(Model, frozen=True, kw_only=True):
    """Nomad's JobDispatchRequest: the payload is base64 on the wire."""

    job_id: str = ""
    payload: bytes = b""
    meta: dict[str, str] = {}
    idempotency_token: str = ""
    id_prefix_template: str = ""


def launch_routes(backend: Backend, get_job: Callable[[Request], Job]) -> list[BaseRoute]:
    @endpoint
    async def dispatch(request: Request) -> Response:
        job = get_job(request)
        body = await read_object(request, required=False)
        req = decode_as(body, JobDispatchRequest, "dispatch request")
        # Nomad's clients send the token as a write option (?idempotency_token=...).
        token = req.idempotency_token or request.query_params.get("idempotency_token", "")
        result = await run_in_threadpool(
            lambda: backend.dispatch_job(
                job.namespace,
                job.id,
                req.payload,
                req.meta,
                token=token,
                id_prefix=req.id_prefix_template,
            )
        )
        return json_response(result, index=result.index)

    @endpoint
    async def force(request: Request) -> Response:
        job = get_job(request)
        result = await run_in_threadpool(backend.force_periodic, job.namespace, job.id)
        return json_response(result, index=result.index)

    return [
        Route("/v1/job/{job_id:jobid}/dispatch", dispatch, methods=["POST", "PUT"]),
        Route("/v1/job/{job_id:jobid}/periodic/force", force, methods=["POST", "PUT"]),
    ]
