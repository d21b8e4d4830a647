"""Nomad's ACL routes: /v1/acl/bootstrap, tokens, policies and roles.

Who may call each route is declared in ``gitorch.api.authz.CHECKS``; the routes marked
there as ``TOKEN`` answer a client token only about itself (its own token, its
policies, its roles), as Nomad does. Listings carry accessor IDs, never secrets.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import (
    blocking_index,
    decode_as,
    endpoint,
    json_response,
    read_object,
)
from gitorch.core.model.acl import (
    ACLPolicy,
    ACLPolicyListStub,
    ACLRole,
    ACLToken,
    JobACL,
    token_stub,
)
from gitorch.core.model.base import replace
from gitorch.errors import BadRequestError, NotFoundError, PermissionDeniedError
from gitorch.server.acl import AclService, Identity
from gitorch.server.backend import Backend

_TOKENS = ("acl_token",)
_POLICIES = ("acl_policy",)
_ROLES = ("acl_role",)


def routes(backend: Backend, acl: AclService, *, enabled: bool) -> list[BaseRoute]:
    """The ACL routes; with ACLs off each answers 400 as Nomad's do."""

    def identity(request: Request) -> Identity:
        if not enabled:
            raise BadRequestError("ACL support disabled")
        found = request.scope.get("state", {}).get("acl_identity")
        assert isinstance(found, Identity)
        return found

    def own_policy_names(who: Identity) -> set[str]:
        if who.token is None:
            return set()
        return set(backend.state.acl.token_policy_names(who.token))

    @endpoint
    async def bootstrap(request: Request) -> Response:
        identity(request)
        token = await run_in_threadpool(acl.bootstrap)
        return json_response(token, index=token.create_index)

    # -- policies -----------------------------------------------------------------------

    @endpoint
    async def list_policies(request: Request) -> Response:
        who = identity(request)
        index = await blocking_index(request, backend, _POLICIES)
        prefix = request.query_params.get("prefix", "")
        mine = own_policy_names(who)
        stubs = [
            ACLPolicyListStub(
                name=p.name,
                description=p.description,
                create_index=p.create_index,
                modify_index=p.modify_index,
            )
            for p in sorted(backend.state.acl.policies.values(), key=lambda p: p.name)
            if p.name.startswith(prefix) and (who.management or p.name in mine)
        ]
        return json_response(stubs, index=index)

    @endpoint
    async def read_policy(request: Request) -> Response:
        who = identity(request)
        name = request.path_params["name"]
        index = await blocking_index(request, backend, _POLICIES)
        if not who.management and name not in own_policy_names(who):
            raise PermissionDeniedError(f"token may not read ACL policy {name!r}")
        policy = backend.state.acl.policies.get(name)
        if policy is None:
            raise NotFoundError("ACL policy not found")
        return json_response(policy, index=index)

    @endpoint
    async def upsert_policy(request: Request) -> Response:
        identity(request)
        name = request.path_params["name"]
        body = await read_object(request)
        if body.get("Name") not in (None, "", name):
            raise BadRequestError("ACL policy name in the body does not match the path")
        policy = decode_as({**body, "Name": name}, ACLPolicy, "ACL policy")
        job_acl: JobACL | None = policy.job_acl
        index = await run_in_threadpool(
            acl.upsert_policy, name, policy.rules, policy.description, job_acl
        )
        return json_response(None, index=index)

    @endpoint
    async def delete_policy(request: Request) -> Response:
        identity(request)
        index = await run_in_threadpool(acl.delete_policy, request.path_params["name"])
        return json_response(None, index=index)

    # -- tokens -------------------------------------------------------------------------

    @endpoint
    async def list_tokens(request: Request) -> Response:
        identity(request)
        index = await blocking_index(request, backend, _TOKENS)
        prefix = request.query_params.get("prefix", "")
        tokens = sorted(backend.state.acl.tokens.values(), key=lambda t: t.create_index)
        stubs = [token_stub(t) for t in tokens if t.accessor_id.startswith(prefix)]
        return json_response(stubs, index=index)

    @endpoint
    async def create_token(request: Request) -> Response:
        identity(request)
        raw = await _token_body(request)
        if raw.accessor_id:
            raise BadRequestError("to update a token, POST to /v1/acl/token/<accessor ID>")
        token = await run_in_threadpool(acl.upsert_token, raw)
        return json_response(token, index=token.modify_index)

    @endpoint
    async def update_token(request: Request) -> Response:
        identity(request)
        accessor = request.path_params["accessor_id"]
        raw = await _token_body(request)
        if raw.accessor_id not in ("", accessor):
            raise BadRequestError("AccessorID in the body does not match the path")
        token = await run_in_threadpool(acl.upsert_token, raw, accessor)
        return json_response(token, index=token.modify_index)

    @endpoint
    async def read_token(request: Request) -> Response:
        who = identity(request)
        accessor = request.path_params["accessor_id"]
        index = await blocking_index(request, backend, _TOKENS)
        mine = who.token is not None and who.token.accessor_id == accessor
        if not who.management and not mine:
            raise PermissionDeniedError("token may read only itself")
        token = backend.state.acl.tokens.get(accessor)
        if token is None:
            raise NotFoundError("ACL token not found")
        return json_response(token, index=index)

    @endpoint
    async def token_self(request: Request) -> Response:
        who = identity(request)
        assert who.token is not None
        token = replace(who.token, secret_id=who.secret)  # the caller's own secret
        return json_response(token, index=max(1, token.modify_index))

    @endpoint
    async def delete_token(request: Request) -> Response:
        identity(request)
        index = await run_in_threadpool(acl.delete_token, request.path_params["accessor_id"])
        return json_response(None, index=index)

    # -- roles --------------------------------------------------------------------------

    def own_roles(who: Identity) -> set[str]:
        return set() if who.token is None else {r.id for r in who.token.roles}

    @endpoint
    async def list_roles(request: Request) -> Response:
        who = identity(request)
        index = await blocking_index(request, backend, _ROLES)
        prefix = request.query_params.get("prefix", "")
        mine = own_roles(who)
        roles = [
            r
            for r in sorted(backend.state.acl.roles.values(), key=lambda r: r.create_index)
            if r.id.startswith(prefix) and (who.management or r.id in mine)
        ]
        return json_response(roles, index=index)

    def visible_role(who: Identity, role: ACLRole | None) -> ACLRole:
        if role is None or not (who.management or role.id in own_roles(who)):
            if who.management:
                raise NotFoundError("ACL role not found")
            raise PermissionDeniedError("token may read only its own roles")
        return role

    @endpoint
    async def read_role(request: Request) -> Response:
        who = identity(request)
        index = await blocking_index(request, backend, _ROLES)
        role = visible_role(who, backend.state.acl.roles.get(request.path_params["role_id"]))
        return json_response(role, index=index)

    @endpoint
    async def read_role_by_name(request: Request) -> Response:
        who = identity(request)
        index = await blocking_index(request, backend, _ROLES)
        role = visible_role(who, backend.state.acl.role_by_name(request.path_params["name"]))
        return json_response(role, index=index)

    @endpoint
    async def upsert_role(request: Request) -> Response:
        identity(request)
        raw = decode_as(await read_object(request), ACLRole, "ACL role")
        role_id = request.path_params.get("role_id", "")
        if not role_id and raw.id:
            raise BadRequestError("to update a role, POST to /v1/acl/role/<role ID>")
        role = await run_in_threadpool(acl.upsert_role, raw, role_id)
        return json_response(role, index=role.modify_index)

    @endpoint
    async def delete_role(request: Request) -> Response:
        identity(request)
        index = await run_in_threadpool(acl.delete_role, request.path_params["role_id"])
        return json_response(None, index=index)

    write = ["POST", "PUT"]
    return [
        Route("/v1/acl/bootstrap", bootstrap, methods=write),
        Route("/v1/acl/policies", list_policies, methods=["GET"]),
        Route("/v1/acl/policy/{name:str}", read_policy, methods=["GET"]),
        Route("/v1/acl/policy/{name:str}", upsert_policy, methods=write),
        Route("/v1/acl/policy/{name:str}", delete_policy, methods=["DELETE"]),
        Route("/v1/acl/tokens", list_tokens, methods=["GET"]),
        Route("/v1/acl/token", create_token, methods=write),
        Route("/v1/acl/token/self", token_self, methods=["GET"]),
        Route("/v1/acl/token/{accessor_id:str}", read_token, methods=["GET"]),
        Route("/v1/acl/token/{accessor_id:str}", update_token, methods=write),
        Route("/v1/acl/token/{accessor_id:str}", delete_token, methods=["DELETE"]),
        Route("/v1/acl/roles", list_roles, methods=["GET"]),
        Route("/v1/acl/role", upsert_role, methods=write),
        Route("/v1/acl/role/name/{name:str}", read_role_by_name, methods=["GET"]),
        Route("/v1/acl/role/{role_id:str}", read_role, methods=["GET"]),
        Route("/v1/acl/role/{role_id:str}", upsert_role, methods=write),
        Route("/v1/acl/role/{role_id:str}", delete_role, methods=["DELETE"]),
    ]


async def _token_body(request: Request) -> ACLToken:
    body: dict[str, Any] = await read_object(request)
    body.pop("SecretID", None)  # a secret is always generated, never chosen
    body.setdefault("AccessorID", "")
    return decode_as(body, ACLToken, "ACL token")
