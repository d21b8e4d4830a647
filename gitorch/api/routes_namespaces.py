"""``/v1/regions``, ``/v1/namespaces`` and ``/v1/namespace/:name``.

gitorch keeps no namespace table: a namespace exists once something lives in it (a
job, a service registration, a variable), and ``default`` always exists. Registering
a job in a new namespace therefore creates it, where Nomad would first need
``nomad namespace apply`` (documented in docs/http-api.md). The answers carry Nomad's
fields. A token sees the namespaces where it holds ``read-job`` or ``list-jobs``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.authz import HOW_TO_PASS
from gitorch.api.http import blocking_index, endpoint, json_response
from gitorch.core.acl import Capability
from gitorch.core.state import StateView
from gitorch.errors import NotFoundError, PermissionDeniedError
from gitorch.server.acl import Identity
from gitorch.server.backend import Backend

DEFAULT = "default"
READS = (Capability("namespace", "read-job"), Capability("namespace", "list-jobs"))


def namespace_names(state: StateView) -> list[str]:
    """Every namespace in use, ``default`` first, the others sorted."""
    found = {ns for ns, _ in state.jobs}
    found.update(s.namespace for s in list(state.svc.services.values()))
    found.update(ns for ns, _ in state.vars.variables)
    found.discard(DEFAULT)
    return [DEFAULT, *sorted(found)]


def namespace_object(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Description": "Default shared namespace" if name == DEFAULT else "",
        "Quota": "",
        "Capabilities": None,
        "NodePoolConfiguration": None,
        "Meta": None,
        "CreateIndex": 1,
        "ModifyIndex": 1,
    }


def visible(identity: Identity | None, name: str) -> bool:
    return identity is None or any(identity.allows(cap, name) for cap in READS)


def routes(backend: Backend) -> list[BaseRoute]:
    def identity_of(request: Request) -> Identity | None:
        found: Identity | None = request.scope.get("state", {}).get("acl_identity")
        return found

    @endpoint
    async def regions(request: Request) -> Response:
        return json_response([str(getattr(backend, "region", "global"))])

    @endpoint
    async def list_namespaces(request: Request) -> Response:
        index = await blocking_index(request, backend, ("jobs",))
        state = backend.state
        prefix = request.query_params.get("prefix", "")
        who = identity_of(request)
        names = [n for n in namespace_names(state) if n.startswith(prefix) and visible(who, n)]
        return json_response([namespace_object(n) for n in names], index=index)

    @endpoint
    async def read_namespace(request: Request) -> Response:
        index = await blocking_index(request, backend, ("jobs",))
        state = backend.state
        name = request.path_params["name"]
        if name not in namespace_names(state):
            raise NotFoundError("namespace not found")
        if not visible(identity_of(request), name):
            raise PermissionDeniedError(f"no capability in namespace {name!r}; {HOW_TO_PASS}")
        return json_response(namespace_object(name), index=index)

    return [
        Route("/v1/regions", regions, methods=["GET"]),
        Route("/v1/namespaces", list_namespaces, methods=["GET"]),
        Route("/v1/namespace/{name:str}", read_namespace, methods=["GET"]),
    ]
