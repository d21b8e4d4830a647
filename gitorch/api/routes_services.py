"""Nomad's native service discovery routes: /v1/services, /v1/service/:name (with
``?choose=N|key`` rendezvous hashing), DELETE /v1/service/:name/:id, the services of an
allocation or a job, and an allocation's check results (/v1/allocation/:id/checks and
Nomad's /v1/client/allocation/:id/checks). Every GET is a blocking query.

``/v1/service/:name`` answers only the instances whose checks all pass (a service
without checks always passes); ``?all=true`` (a gitorch addition) answers every one.
"""

from __future__ import annotations

import hashlib

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
)
from gitorch.core.model import Model
from gitorch.core.model.service import ServiceRegistration
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.backend import Backend

SERVICES = ("services",)
CHECKS = ("checks",)


class ServiceStub(Model, frozen=True, kw_only=True):
    service_name: str
    tags: list[str]


class NamespaceServices(Model, frozen=True, kw_only=True):
    namespace: str
    services: list[ServiceStub]


def choose(regs: list[ServiceRegistration], spec: str) -> list[ServiceRegistration]:
    """Nomad's ``?choose=N|key``: the N instances that rank highest for ``key`` under
    rendezvous (highest random weight) hashing, so one key keeps its instances while
    others come and go."""
    count, sep, key = spec.partition("|")
    if not sep or not count.isdigit() or int(count) < 1 or not key:
        raise BadRequestError(f"invalid choose parameter {spec!r}: use choose=<count>|<key>")

    def weight(reg: ServiceRegistration) -> bytes:
        return hashlib.sha256(f"{key}\x00{reg.id}".encode()).digest()

    return sorted(regs, key=weight, reverse=True)[: int(count)]


def routes(backend: Backend) -> list[BaseRoute]:
    """The service routes, bound to ``backend``."""

    @endpoint
    async def list_services(request: Request) -> Response:
        index = await blocking_index(request, backend, SERVICES)
        ns = namespace(request)
        tags: dict[tuple[str, str], set[str]] = {}
        for reg in list(backend.state.svc.services.values()):
            if ns in ("*", reg.namespace):
                tags.setdefault((reg.namespace, reg.service_name), set()).update(reg.tags)
        out: dict[str, list[ServiceStub]] = {}
        for (reg_ns, name), found in sorted(tags.items()):
            out.setdefault(reg_ns, []).append(ServiceStub(service_name=name, tags=sorted(found)))
        body = [NamespaceServices(namespace=k, services=v) for k, v in out.items()]
        return json_response(body, index=index)

    @endpoint
    async def read_service(request: Request) -> Response:
        if request.query_params.get("filter"):
            raise BadRequestError("?filter expressions are not supported by gitorch yet")
        index = await blocking_index(request, backend, SERVICES)
        svc = backend.state.svc
        regs = svc.named(namespace(request), request.path_params["name"])
        if not query_bool(request, "all"):
            regs = [r for r in regs if svc.healthy(r)]
        if spec := request.query_params.get("choose"):
            regs = choose(regs, spec)
        return json_response(regs, index=index)

    @endpoint
    async def delete_service(request: Request) -> Response:
        name, reg_id = request.path_params["name"], request.path_params["id"]
        reg = backend.state.svc.services.get(reg_id)
        if reg is None or reg.service_name != name or reg.namespace != namespace(request):
            raise NotFoundError(f"service registration {reg_id!r} of {name!r} not found")
        index = await run_in_threadpool(backend.delete_services, [reg_id], [])
        return json_response(None, index=index)

    @endpoint
    async def alloc_services(request: Request) -> Response:
        index = await blocking_index(request, backend, SERVICES)
        alloc_id = request.path_params["alloc_id"]
        if alloc_id not in backend.state.allocs:
            raise NotFoundError(f"allocation {alloc_id} not found")
        return json_response(backend.state.svc.of_alloc(alloc_id), index=index)

    @endpoint
    async def job_services(request: Request) -> Response:
        index = await blocking_index(request, backend, SERVICES)
        state, ns, job_id = backend.state, namespace(request), request.path_params["job_id"]
        if state.job(ns, job_id) is None:
            raise NotFoundError(f"job {job_id!r} not found in namespace {ns!r}")
        regs = [r for a in state.allocs_for_job(ns, job_id) for r in state.svc.of_alloc(a.id)]
        return json_response(regs, index=index)

    @endpoint
    async def alloc_checks(request: Request) -> Response:
        index = await blocking_index(request, backend, CHECKS)
        alloc_id = request.path_params["alloc_id"]
        if alloc_id not in backend.state.allocs:
            raise NotFoundError(f"allocation {alloc_id} not found")
        results = {r.id: r for r in backend.state.svc.checks_of(alloc_id)}
        return json_response(results, index=index)

    return [
        Route("/v1/services", list_services, methods=["GET"]),
        Route("/v1/service/{name:str}", read_service, methods=["GET"]),
        Route("/v1/service/{name:str}/{id:str}", delete_service, methods=["DELETE"]),
        Route("/v1/allocation/{alloc_id:str}/services", alloc_services, methods=["GET"]),
        Route("/v1/allocation/{alloc_id:str}/checks", alloc_checks, methods=["GET"]),
        Route("/v1/client/allocation/{alloc_id:str}/checks", alloc_checks, methods=["GET"]),
        Route("/v1/job/{job_id:str}/services", job_services, methods=["GET"]),
    ]
