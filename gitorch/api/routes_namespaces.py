"""``/v1/regions``, ``/v1/namespaces`` and ``/v1/namespace/:name`` (read, write, delete).

A namespace exists when declared (``POST /v1/namespace``, ``nomad namespace apply``),
while anything lives in it (a job, a service registration, a variable), and
``default`` always: registering a job in a new namespace therefore creates it, where
Nomad would first need ``nomad namespace apply`` (documented in docs/http-api.md; the
rule is ``gitorch.core.nsstate``). The answers carry Nomad's fields. A token sees the
namespaces where it holds ``read-job`` or ``list-jobs``; writing needs a management
token, as in Nomad.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.authz import HOW_TO_PASS
from gitorch.api.http import blocking_index, decode_as, endpoint, json_response, read_object
from gitorch.core import nsstate
from gitorch.core.acl import Capability
from gitorch.core.model.namespace import Namespace
from gitorch.errors import BadRequestError, NotFoundError, PermissionDeniedError
from gitorch.server.acl import Identity
from gitorch.server.backend import Backend
from gitorch.server.useractions import UserActions

READS = (Capability("namespace", "read-job"), Capability("namespace", "list-jobs"))
TABLES = ("jobs", "namespaces")
UNSUPPORTED = ("Quota", "Capabilities", "NodePoolConfiguration", "VaultConfiguration")


def namespace_object(ns: Namespace) -> dict[str, Any]:
    return {
        "Name": ns.name,
        "Description": ns.description,
        "Quota": "",
        "Capabilities": None,
        "NodePoolConfiguration": None,
        "Meta": ns.meta or None,
        "CreateIndex": ns.create_index or 1,
        "ModifyIndex": ns.modify_index or 1,
    }


def visible(identity: Identity | None, name: str) -> bool:
    return identity is None or any(identity.allows(cap, name) for cap in READS)


def namespace_from_body(body: dict[str, Any], name: str | None) -> Namespace:
    """Nomad's Namespace object; what gitorch does not do is refused, not dropped (a
    driver allow-list or a node pool default changes where jobs run)."""
    for key in UNSUPPORTED:
        if body.get(key) not in (None, "", {}, []):
            raise BadRequestError(
                f"namespace {key} is not supported by gitorch; send the namespace without it"
            )
    if name is not None and body.get("Name") not in (None, "", name):
        raise BadRequestError("namespace name in the body does not match the path")
    fields = {k: body[k] for k in ("Name", "Description", "Meta") if k in body}
    if name is not None:
        fields["Name"] = name
    return decode_as(fields, Namespace, "namespace")


def routes(backend: Backend, actions: UserActions | None = None) -> list[BaseRoute]:
    def identity_of(request: Request) -> Identity | None:
        found: Identity | None = request.scope.get("state", {}).get("acl_identity")
        return found

    @endpoint
    async def regions(request: Request) -> Response:
        return json_response([str(getattr(backend, "region", "global"))])

    @endpoint
    async def list_namespaces(request: Request) -> Response:
        index = await blocking_index(request, backend, TABLES)
        state = backend.state
        prefix = request.query_params.get("prefix", "")
        who = identity_of(request)
        names = [n for n in nsstate.names(state) if n.startswith(prefix) and visible(who, n)]
        found = [namespace_object(nsstate.shown(state, n)) for n in names]
        return json_response(found, index=index)

    @endpoint
    async def read_namespace(request: Request) -> Response:
        index = await blocking_index(request, backend, TABLES)
        name = request.path_params["name"]
        found = nsstate.get(backend.state, name)
        if found is None:
            raise NotFoundError(nsstate.NOT_FOUND)
        if not visible(identity_of(request), name):
            raise PermissionDeniedError(f"no capability in namespace {name!r}; {HOW_TO_PASS}")
        return json_response(namespace_object(found), index=index)

    reads: list[BaseRoute] = [
        Route("/v1/regions", regions, methods=["GET"]),
        Route("/v1/namespaces", list_namespaces, methods=["GET"]),
        Route("/v1/namespace/{name:str}", read_namespace, methods=["GET"]),
    ]
    if actions is None:
        return reads
    writer = actions

    @endpoint
    async def apply_namespace(request: Request) -> Response:
        name = request.path_params.get("name")
        ns = namespace_from_body(await read_object(request), name)
        index = await run_in_threadpool(writer.upsert_namespace, ns)
        return json_response(None, index=index)

    @endpoint
    async def delete_namespace(request: Request) -> Response:
        index = await run_in_threadpool(writer.delete_namespace, request.path_params["name"])
        return json_response(None, index=index)

    return [
        *reads,
        Route("/v1/namespace", apply_namespace, methods=["POST", "PUT"]),
        Route("/v1/namespace/{name:str}", apply_namespace, methods=["POST", "PUT"]),
        Route("/v1/namespace/{name:str}", delete_namespace, methods=["DELETE"]),
    ]
