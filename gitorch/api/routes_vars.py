"""Nomad Variables routes (``/v1/var/:path``, ``/v1/vars``), the keyring's operator
routes (``/v1/operator/keyring/keys``, ``/v1/operator/keyring/rotate``), the public keys
of workload identities (``/.well-known/jwks.json``) and the client's request for a
task's identity (``/v1/internal/identity/sign``).

Items appear only in the answers of ``GET``/``PUT /v1/var/:path`` (and a 409's current
variable); lists carry metadata only; error messages name paths, never items. A request
bearing a workload identity was verified by ``gitorch.api.workload``; here it sees only
its own variables in lists.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gitorch.api.authz import CHECKS, OPEN, Check, scope
from gitorch.api.http import (
    blocking_index,
    endpoint,
    json_response,
    nomad_headers,
    query_int,
    read_object,
)
from gitorch.codec import convert
from gitorch.core.acl import Capability
from gitorch.core.model.base import Model
from gitorch.core.model.variable import RootKeyMeta, VariableDecrypted
from gitorch.core.workload import WorkloadClaims, may_read_variable
from gitorch.errors import BadRequestError, PermissionDeniedError
from gitorch.server.backend import Backend
from gitorch.server.identity import IdentitySigner
from gitorch.server.variables import VariableConflict, VariableService


def _var(action: str) -> Check:
    return Check("capability", Capability("variables", action))


# These routes' ACL checks, declared to the ACL gate (gitorch.api.authz) from here. The
# variable checks are coarse for now (any path of the namespace): the gate does not yet
# pass the request's path as the capability's target.
CHECKS.update(
    {
        ("GET", "/v1/var/{path:path}"): _var("read"),
        ("POST", "/v1/var/{path:path}"): _var("write"),
        ("DELETE", "/v1/var/{path:path}"): _var("destroy"),
        ("GET", "/v1/vars"): _var("list"),
        ("GET", "/v1/operator/keyring/keys"): scope("operator", "read"),
        ("POST", "/v1/operator/keyring/rotate"): scope("operator", "write"),
        ("GET", "/.well-known/jwks.json"): OPEN,
        ("POST", "/v1/internal/identity/sign"): scope("node", "write"),
    }
)
VARIABLES = ("variables",)
ROOT_KEYS = ("root_keys",)
UINT64_MAX = (1 << 64) - 1


class KeyringRotateResponse(Model, frozen=True, kw_only=True):
    key: RootKeyMeta


class IdentityRequest(Model, frozen=True, kw_only=True):
    alloc_id: str
    task: str
    node_id: str = ""
    audience: list[str] = []
    ttl: int = 0  # nanoseconds


class IdentityResponse(Model, frozen=True, kw_only=True):
    token: str


def _namespace(request: Request, body: dict[str, Any] | None = None) -> str:
    ns = request.query_params.get("namespace") or (body or {}).get("Namespace") or "default"
    if not isinstance(ns, str):
        raise BadRequestError("Namespace must be a string")
    return ns


def _cas(request: Request) -> int | None:
    if request.query_params.get("cas") in (None, ""):
        return None
    return query_int(request, "cas", lo=0, hi=UINT64_MAX)


def _items(body: dict[str, Any]) -> dict[str, str]:
    raw = body.get("Items")
    if raw is None:
        raise BadRequestError("variable requires Items (an object of string values)")
    if not isinstance(raw, dict):
        raise BadRequestError("Items must be an object of string values")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise BadRequestError(f"Items.{key} must be a string")
    return raw


def workload_of(request: Request) -> WorkloadClaims | None:
    found = request.scope.get("state", {}).get("workload_identity")
    return found if isinstance(found, WorkloadClaims) else None


def routes(
    backend: Backend, variables: VariableService, identity: IdentitySigner
) -> list[BaseRoute]:
    @endpoint
    async def read_var(request: Request) -> Response:
        index = await blocking_index(request, backend, VARIABLES)
        path = request.path_params["path"].strip("/")
        found = await run_in_threadpool(variables.read, _namespace(request), path)
        if found is None:  # with the index, as Nomad's: a blocking query can go on from it
            headers = nomad_headers(index)
            return PlainTextResponse(f"variable not found: {path}", 404, headers=headers)
        return json_response(found, index=index)

    @endpoint
    async def put_var(request: Request) -> Response:
        body = await read_object(request)
        path = request.path_params["path"].strip("/")
        body_path = body.get("Path")
        if body_path not in (None, "") and str(body_path).strip("/") != path:
            raise BadRequestError(f"variable Path {body_path!r} does not match the URL's {path!r}")
        try:
            stored = await run_in_threadpool(
                variables.put, _namespace(request, body), path, _items(body), _cas(request)
            )
        except VariableConflict as exc:
            return _conflict(exc, request, path)
        return json_response(stored, index=stored.modify_index)

    @endpoint
    async def delete_var(request: Request) -> Response:
        path = request.path_params["path"].strip("/")
        try:
            index = await run_in_threadpool(
                variables.delete, _namespace(request), path, _cas(request)
            )
        except VariableConflict as exc:
            return _conflict(exc, request, path)
        return json_response(None, index=index)

    @endpoint
    async def list_vars(request: Request) -> Response:
        index = await blocking_index(request, backend, VARIABLES)
        prefix = request.query_params.get("prefix", "")
        found = variables.listed(_namespace(request), prefix)
        claims = workload_of(request)
        if claims is not None:
            found = [m for m in found if may_read_variable(claims, m.namespace, m.path)]
        return json_response(found, index=index)

    @endpoint
    async def keyring_keys(request: Request) -> Response:
        index = await blocking_index(request, backend, ROOT_KEYS)
        return json_response(variables.key_list(), index=index)

    @endpoint
    async def keyring_rotate(request: Request) -> Response:
        meta = await run_in_threadpool(variables.rotate)
        return json_response(KeyringRotateResponse(key=meta), index=meta.modify_index)

    @endpoint
    async def jwks(request: Request) -> Response:
        return json_response(await run_in_threadpool(identity.jwks))

    @endpoint
    async def sign_identity(request: Request) -> Response:
        req = convert(await read_object(request), IdentityRequest)
        caller = request.scope.get("state", {}).get("acl_identity")
        node_id = getattr(caller, "node_id", "")
        if node_id and node_id != req.node_id:  # a node secret signs for its own node only
            raise PermissionDeniedError(
                f"node {node_id} may not ask identities for node {req.node_id!r}"
            )
        token = await run_in_threadpool(
            lambda: identity.sign(
                req.alloc_id,
                req.task,
                node_id=req.node_id,
                audience=req.audience or None,
                ttl_ns=req.ttl,
            )
        )
        return json_response(IdentityResponse(token=token))

    return [
        Route("/v1/var/{path:path}", read_var, methods=["GET"]),
        Route("/v1/var/{path:path}", put_var, methods=["PUT", "POST"]),
        Route("/v1/var/{path:path}", delete_var, methods=["DELETE"]),
        Route("/v1/vars", list_vars, methods=["GET"]),
        Route("/v1/operator/keyring/keys", keyring_keys, methods=["GET"]),
        Route("/v1/operator/keyring/rotate", keyring_rotate, methods=["PUT", "POST"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/v1/internal/identity/sign", sign_identity, methods=["POST"]),
    ]


def _conflict(exc: VariableConflict, request: Request, path: str) -> Response:
    current = exc.current
    if current is None:  # Nomad answers a conflict on a missing variable with an empty one
        current = VariableDecrypted(namespace=_namespace(request), path=path)
    return json_response(current, index=current.modify_index, status_code=409)
