"""Search: ``/v1/search`` (ID prefix) and ``/v1/search/fuzzy`` (substring of names), in
Nomad's shape: ``{"Matches": {context: [...]}, "Truncations": {context: bool}}``.

Contexts: ``jobs``, ``evals``, ``allocs``, ``nodes``, ``deployments``, ``namespaces``
(``all`` for every one; fuzzy adds ``groups`` and ``tasks`` under ``jobs``). Each
context lists at most ``LIMIT`` matches and says when it cut more. With ACLs on, the gate
asks for ``read-job`` as the event stream does, and a context is searched only where
the token may read it: namespaced contexts in the
namespaces where it holds ``read-job``, nodes with ``node:read``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.authz import HOW_TO_PASS
from gitorch.api.http import endpoint, json_response, read_object
from gitorch.core import nsstate
from gitorch.core.acl import Capability
from gitorch.core.state import StateView
from gitorch.errors import BadRequestError, PermissionDeniedError
from gitorch.server.acl import Identity
from gitorch.server.backend import Backend

LIMIT = 20  # Nomad's truncation limit per context
CONTEXTS = ("allocs", "deployments", "evals", "jobs", "namespaces", "nodes")
FUZZY_CONTEXTS = ("allocs", "jobs", "namespaces", "nodes")
READ_JOB = Capability("namespace", "read-job")
NODE_READ = Capability("node", "read")


class Access:
    """What one reader may search: ``None`` identity is ACLs off."""

    def __init__(self, identity: Identity | None, namespace: str) -> None:
        if identity is not None and (
            identity.problem
            or not (identity.allows_somewhere("read-job") or identity.allows(NODE_READ))
        ):
            why = identity.problem or "search needs namespace:read-job or node:read"
            raise PermissionDeniedError(f"{why}; {HOW_TO_PASS}")
        self.identity = identity
        self.namespace = namespace

    def namespace_ok(self, namespace: str) -> bool:
        if self.namespace not in ("*", namespace):
            return False
        return self.identity is None or self.identity.allows(READ_JOB, namespace)

    def nodes_ok(self) -> bool:
        return self.identity is None or self.identity.allows(NODE_READ)


def _contexts(raw: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    context = raw or "all"
    if context == "all":
        return allowed
    if context not in allowed:
        raise BadRequestError(f"Invalid context {context!r}: one of all, {', '.join(allowed)}")
    return (str(context),)


def _cut(items: Iterable[Any]) -> tuple[list[Any], bool]:
    out: list[Any] = []
    for item in items:
        if len(out) == LIMIT:
            return out, True
        out.append(item)
    return out, False


def prefix_matches(
    state: StateView, access: Access, prefix: str, contexts: tuple[str, ...]
) -> dict[str, Any]:
    found: dict[str, Callable[[], Iterable[str]]] = {
        "jobs": lambda: sorted(
            j.id
            for j in list(state.jobs.values())
            if j.id.startswith(prefix) and access.namespace_ok(j.namespace)
        ),
        "allocs": lambda: sorted(
            a.id
            for a in list(state.allocs.values())
            if a.id.startswith(prefix) and access.namespace_ok(a.namespace)
        ),
        "evals": lambda: sorted(
            e.id
            for e in list(state.evals.values())
            if e.id.startswith(prefix) and access.namespace_ok(e.namespace)
        ),
        "deployments": lambda: sorted(
            d.id
            for d in list(state.deployments.values())
            if d.id.startswith(prefix) and access.namespace_ok(d.namespace)
        ),
        "nodes": lambda: (
            sorted(n for n in list(state.nodes) if n.startswith(prefix))
            if access.nodes_ok()
            else []
        ),
        "namespaces": lambda: [
            n
            for n in nsstate.names(state)
            if n.startswith(prefix) and (access.identity is None or _any_in(access.identity, n))
        ],
    }
    return _answer({name: found[name]() for name in contexts})


def fuzzy_matches(
    state: StateView, access: Access, text: str, contexts: tuple[str, ...]
) -> dict[str, Any]:
    needle = text.lower()

    def hit(name: str) -> bool:
        return needle in name.lower()

    found: dict[str, list[dict[str, Any]]] = {}
    jobs = sorted(
        (j for j in list(state.jobs.values()) if access.namespace_ok(j.namespace)),
        key=lambda j: (j.namespace, j.id),
    )
    if "jobs" in contexts:
        found["jobs"] = [{"ID": j.id, "Scope": [j.namespace]} for j in jobs if hit(j.id)]
        found["groups"] = [
            {"ID": g.name, "Scope": [j.namespace, j.id]}
            for j in jobs
            for g in j.task_groups
            if hit(g.name)
        ]
        found["tasks"] = [
            {"ID": t.name, "Scope": [j.namespace, j.id, g.name]}
            for j in jobs
            for g in j.task_groups
            for t in g.tasks
            if hit(t.name)
        ]
    if "allocs" in contexts:
        found["allocs"] = [
            {"ID": a.name, "Scope": [a.namespace, a.id]}
            for a in sorted(list(state.allocs.values()), key=lambda a: (a.name, a.id))
            if hit(a.name) and access.namespace_ok(a.namespace)
        ]
    if "nodes" in contexts:
        nodes = sorted(list(state.nodes.values()), key=lambda n: (n.name, n.id))
        found["nodes"] = (
            [{"ID": n.name, "Scope": [n.id]} for n in nodes if hit(n.name)]
            if access.nodes_ok()
            else []
        )
    if "namespaces" in contexts:
        found["namespaces"] = [
            {"ID": n, "Scope": []}
            for n in nsstate.names(state)
            if hit(n) and (access.identity is None or _any_in(access.identity, n))
        ]
    return _answer(found)


def _any_in(identity: Identity, namespace: str) -> bool:
    return identity.allows(READ_JOB, namespace) or identity.allows(
        Capability("namespace", "list-jobs"), namespace
    )


def _answer(found: Mapping[str, Iterable[Any]]) -> dict[str, Any]:
    matches: dict[str, list[Any]] = {}
    truncations: dict[str, bool] = {}
    for name, items in found.items():
        matches[name], truncations[name] = _cut(items)
    return {"Matches": matches, "Truncations": truncations}


def routes(backend: Backend) -> list[BaseRoute]:
    def access(request: Request, body: dict[str, Any]) -> Access:
        identity: Identity | None = request.scope.get("state", {}).get("acl_identity")
        namespace = str(body.get("Namespace") or request.query_params.get("namespace") or "default")
        return Access(identity, namespace)

    @endpoint
    async def search(request: Request) -> Response:
        body = await read_object(request)
        prefix = body.get("Prefix", "")
        if not isinstance(prefix, str):
            raise BadRequestError("Prefix must be a string")
        contexts = _contexts(body.get("Context"), CONTEXTS)
        who = access(request, body)
        state = backend.state
        return json_response(prefix_matches(state, who, prefix, contexts), index=state.index)

    @endpoint
    async def fuzzy(request: Request) -> Response:
        body = await read_object(request)
        text = body.get("Text", "")
        if not isinstance(text, str) or len(text) < 2:
            raise BadRequestError("Text must be a string of at least 2 characters")
        contexts = _contexts(body.get("Context"), FUZZY_CONTEXTS)
        who = access(request, body)
        state = backend.state
        return json_response(fuzzy_matches(state, who, text, contexts), index=state.index)

    return [
        Route("/v1/search", search, methods=["POST", "PUT"]),
        Route("/v1/search/fuzzy", fuzzy, methods=["POST", "PUT"]),
    ]
