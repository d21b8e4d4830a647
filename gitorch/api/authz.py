"""ACL enforcement for every route, in one place: ``CHECKS`` maps (method, route path)
to the capability Nomad's handler checks, and ``AclGate`` (ASGI middleware) resolves
the request's token and applies it before any route runs.

A route without a declared check is refused to everyone but management tokens (and a
test walks the app's routes so that none ships without one). Lists answered under a
namespace check drop the items of namespaces the token may not read. Secrets never
appear in an answer; refusals say what was missing and how to pass a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.datastructures import Headers, QueryParams
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitorch.api.http import MAX_BODY_BYTES, text_response
from gitorch.api.routes_agent import ENTERPRISE_PATHS
from gitorch.core.acl import Capability
from gitorch.core.scalingpolicies import find_policy
from gitorch.core.state import StateView
from gitorch.server.acl import AclResolver, Identity

log = logging.getLogger(__name__)

HOW_TO_PASS = (
    "pass an ACL token with the CLI's -token flag or the NOMAD_TOKEN environment "
    "variable, or over HTTP with the X-Nomad-Token header or Authorization: Bearer <token>"
)


@dataclass(frozen=True)
class Check:
    """What a route needs. ``kind``: ``open`` (no token), ``capability``, ``token`` (any
    valid token; the route decides further, as the ACL routes do). ``namespace_of``:
    where the namespace comes from: ``query`` (``?namespace=``), ``job`` (the Job in the
    body, else the query), or a resource looked up by path parameter: ``alloc``,
    ``eval``, ``deployment``. ``list_filter``: the namespace capability each listed
    item needs."""

    kind: str
    capability: Capability | None = None
    namespace_of: str = "query"
    list_filter: str = ""


OPEN = Check("open")
TOKEN = Check("token")
MANAGEMENT = Check("capability", Capability("management", "*"))


def ns(action: str, of: str = "query", lists: bool = False) -> Check:
    return Check("capability", Capability("namespace", action), of, action if lists else "")


def scope(name: str, level: str, list_filter: str = "") -> Check:
    return Check("capability", Capability(name, level), "query", list_filter)  # type: ignore[arg-type]


_JOB = "/v1/job/{job_id:jobid}"
_JOBS = "/v1/job/{job_id:str}"
_ALLOC = "/v1/allocation/{alloc_id:str}"
_CALLOC = "/v1/client/allocation/{alloc_id:str}"
_DEP = "{id:str}"
# (method, route path) -> check. GET stands for HEAD too, POST for PUT; "*" is every
# method of a mounted app.
CHECKS: dict[tuple[str, str], Check] = {
    # jobs
    ("GET", "/v1/jobs"): ns("list-jobs", lists=True),
    ("POST", "/v1/jobs"): ns("submit-job", "job"),
    ("POST", "/v1/jobs/parse"): ns("parse-job"),
    ("POST", "/v1/validate/job"): ns("read-job", "job"),
    ("GET", _JOB): ns("read-job"),
    ("POST", _JOB): ns("submit-job", "job"),
    ("DELETE", _JOB): ns("submit-job"),
    ("GET", f"{_JOB}/allocations"): ns("read-job"),
    ("GET", f"{_JOB}/evaluations"): ns("read-job"),
    ("GET", f"{_JOB}/versions"): ns("read-job"),
    ("GET", f"{_JOB}/submission"): ns("read-job"),
    ("GET", f"{_JOB}/summary"): ns("read-job"),
    ("POST", f"{_JOB}/plan"): ns("submit-job", "job"),
    ("POST", f"{_JOB}/dispatch"): ns("dispatch-job"),
    ("POST", f"{_JOB}/periodic/force"): ns("dispatch-job"),
    ("GET", f"{_JOBS}/deployments"): ns("read-job"),
    ("GET", f"{_JOBS}/deployment"): ns("read-job"),
    ("POST", f"{_JOBS}/revert"): ns("submit-job"),
    ("POST", f"{_JOBS}/stable"): ns("submit-job"),
    ("GET", f"{_JOBS}/services"): ns("read-job"),
    ("POST", f"{_JOB}/evaluate"): ns("submit-job"),
    ("GET", f"{_JOB}/scale"): ns("read-job-scaling"),
    ("POST", f"{_JOB}/scale"): ns("scale-job"),
    # scaling policies (Nomad also admits list-jobs with read-job; read and scale policies
    # grant these)
    ("GET", "/v1/scaling/policies"): ns("list-scaling-policies", lists=True),
    ("GET", "/v1/scaling/policy/{policy_id:str}"): ns("read-scaling-policy", "scaling"),
    # allocations and evaluations
    ("GET", "/v1/allocations"): ns("read-job", lists=True),
    ("GET", _ALLOC): ns("read-job", "alloc"),
    ("POST", f"{_ALLOC}/stop"): ns("alloc-lifecycle", "alloc"),
    ("GET", f"{_ALLOC}/services"): ns("read-job", "alloc"),
    ("GET", f"{_ALLOC}/checks"): ns("read-job", "alloc"),
    ("GET", "/v1/client/allocation/{alloc_id:str}/checks"): ns("read-job", "alloc"),
    ("GET", "/v1/client/fs/logs/{alloc_id:str}"): ns("read-logs", "alloc"),
    # the client routes (gitorch.api.routes_clientfs, routes_clientalloc, routes_exec),
    # with the capabilities Nomad's client checks
    ("GET", "/v1/client/fs/ls/{alloc_id:str}"): ns("read-fs", "alloc"),
    ("GET", "/v1/client/fs/stat/{alloc_id:str}"): ns("read-fs", "alloc"),
    ("GET", "/v1/client/fs/cat/{alloc_id:str}"): ns("read-fs", "alloc"),
    ("GET", "/v1/client/fs/readat/{alloc_id:str}"): ns("read-fs", "alloc"),
    ("GET", "/v1/client/fs/stream/{alloc_id:str}"): ns("read-fs", "alloc"),
    ("GET", f"{_CALLOC}/stats"): ns("read-job", "alloc"),
    ("POST", f"{_CALLOC}/restart"): ns("alloc-lifecycle", "alloc"),
    ("POST", f"{_CALLOC}/signal"): ns("alloc-lifecycle", "alloc"),
    ("GET", f"{_CALLOC}/gc"): ns("submit-job", "alloc"),
    ("POST", f"{_CALLOC}/gc"): ns("submit-job", "alloc"),
    ("GET", f"{_CALLOC}/exec"): ns("alloc-exec", "alloc"),  # the WebSocket upgrade
    ("GET", "/v1/client/stats"): scope("node", "read"),
    ("GET", "/v1/client/gc"): scope("node", "write"),
    ("POST", "/v1/client/gc"): scope("node", "write"),
    ("GET", "/v1/evaluations"): ns("read-job", lists=True),
    ("GET", "/v1/evaluation/{eval_id:str}"): ns("read-job", "eval"),
    ("GET", "/v1/evaluation/{eval_id:str}/allocations"): ns("read-job", "eval", lists=True),
    # deployments
    ("GET", "/v1/deployments"): ns("read-job", lists=True),
    ("GET", f"/v1/deployment/{_DEP}"): ns("read-job", "deployment"),
    ("GET", f"/v1/deployment/allocations/{_DEP}"): ns("read-job", "deployment", lists=True),
    ("POST", f"/v1/deployment/promote/{_DEP}"): ns("submit-job", "deployment"),
    ("POST", f"/v1/deployment/fail/{_DEP}"): ns("submit-job", "deployment"),
    ("POST", f"/v1/deployment/pause/{_DEP}"): ns("submit-job", "deployment"),
    # services
    ("GET", "/v1/services"): ns("read-job", lists=True),
    ("GET", "/v1/service/{name:str}"): ns("read-job"),
    ("DELETE", "/v1/service/{name:str}/{id:str}"): ns("submit-job"),
    # nodes
    ("GET", "/v1/nodes"): scope("node", "read"),
    ("GET", "/v1/node/pools"): scope("node", "read"),
    ("GET", "/v1/node/{node_id:str}"): scope("node", "read"),
    ("GET", "/v1/node/{node_id:str}/allocations"): scope("node", "read", "read-job"),
    ("POST", "/v1/node/{node_id:str}/drain"): scope("node", "write"),
    ("POST", "/v1/node/{node_id:str}/eligibility"): scope("node", "write"),
    # the event stream: read-job in the asked namespace (somewhere, for ?namespace=*),
    # then each event shown only to a token that may read it (node:read for nodes)
    ("GET", "/v1/event/stream"): ns("read-job"),
    # metrics: Nomad's /v1/metrics needs no ACL (scrapers); it holds no secrets
    ("GET", "/v1/metrics"): OPEN,
    # Nomad's System.GarbageCollect needs a management token
    ("POST", "/v1/system/gc"): MANAGEMENT,
    # search: read-job as the event stream, then each context holds only what the token
    # may read; namespaces: open, the list holds those the token has a capability in
    ("POST", "/v1/search"): ns("read-job"),
    ("POST", "/v1/search/fuzzy"): ns("read-job"),
    ("GET", "/v1/regions"): OPEN,
    ("GET", "/v1/namespaces"): OPEN,
    ("GET", "/v1/namespace/{name:str}"): OPEN,
    # declaring and deleting namespaces: a management token, as Nomad's Namespace.Upsert
    ("POST", "/v1/namespace"): MANAGEMENT,
    ("POST", "/v1/namespace/{name:str}"): MANAGEMENT,
    ("DELETE", "/v1/namespace/{name:str}"): MANAGEMENT,
    # status, agent, operator
    ("GET", "/v1/status/leader"): OPEN,
    ("GET", "/v1/status/peers"): OPEN,
    ("GET", "/v1/agent/health"): OPEN,
    ("GET", "/v1/agent/self"): scope("agent", "read"),
    ("GET", "/v1/agent/members"): scope("node", "read"),
    ("GET", "/v1/operator/raft/configuration"): scope("operator", "read"),
    ("DELETE", "/v1/operator/raft/peer"): scope("operator", "write"),
    ("GET", "/v1/operator/scheduler/configuration"): scope("operator", "read"),
    ("POST", "/v1/operator/scheduler/configuration"): scope("operator", "write"),
    ("GET", "/v1/operator/snapshot"): MANAGEMENT,  # Nomad: snapshots need management
    ("POST", "/v1/operator/snapshot"): MANAGEMENT,
    ("GET", "/v1/agent/servers"): scope("agent", "read"),
    ("POST", "/v1/agent/servers"): scope("agent", "write"),
    ("POST", "/v1/agent/join"): scope("agent", "write"),
    ("POST", "/v1/agent/force-leave"): scope("agent", "write"),
    ("GET", "/v1/agent/host"): scope("agent", "read"),
    ("GET", "/v1/agent/schedulers"): scope("agent", "read"),
    ("GET", "/v1/agent/monitor"): scope("agent", "read"),
    ("POST", "/v1/node/{node_id:str}/evaluate"): scope("node", "write"),
    ("POST", "/v1/node/{node_id:str}/purge"): scope("node", "write"),
    ("POST", "/v1/system/reconcile/summaries"): MANAGEMENT,
    # Enterprise-only paths: Nomad's OSS agent answers 501 to anyone
    **{(m, p): OPEN for p in ENTERPRISE_PATHS for m in ("GET", "POST", "DELETE")},
    # GitOps (gitorch's own): the webhook is signed with its own secret
    ("GET", "/v1/gitops/status"): scope("operator", "read"),
    ("POST", "/v1/gitops/sync"): scope("operator", "write"),
    ("POST", "/v1/gitops/webhook"): OPEN,
    ("GET", "/v1/gitops/history"): scope("operator", "read"),
    ("POST", "/v1/gitops/job/{job_id:jobid}/suspend"): scope("operator", "write"),
    ("POST", "/v1/gitops/job/{job_id:jobid}/resume"): scope("operator", "write"),
    # the web UI: every page reads the API in-process as the user (the token from its
    # cookie or header), so the API's own checks, 403 included, are what a page shows
    ("GET", "/"): OPEN,
    ("GET", "/ui"): OPEN,
    ("*", "/ui"): OPEN,
    ("GET", "/ui/allocation/{alloc_id:str}/logs/stream"): OPEN,
    ("GET", "/ui/events"): OPEN,  # the inner /v1/event/stream is gated with the user's token
    # client agents calling servers (Nomad's Node.* RPCs need node:write, which a client
    # holds by its node secret). Registering is open, as Nomad's Node.Register without
    # mTLS: a new node brings its secret, and re-registering an existing node ID is
    # refused by the server unless the same secret comes with it.
    ("POST", "/v1/internal/node/register"): OPEN,
    ("POST", "/v1/internal/node/{node_id:str}/heartbeat"): scope("node", "write"),
    ("POST", "/v1/internal/allocs/update"): scope("node", "write"),
    ("POST", "/v1/internal/services/register"): scope("node", "write"),
    ("POST", "/v1/internal/services/deregister"): scope("node", "write"),
    ("POST", "/v1/internal/checks/update"): scope("node", "write"),
    # ACLs: the routes answer a client token only about its own token, policies, roles
    ("POST", "/v1/acl/bootstrap"): OPEN,
    ("GET", "/v1/acl/policies"): TOKEN,
    ("GET", "/v1/acl/policy/{name:str}"): TOKEN,
    ("POST", "/v1/acl/policy/{name:str}"): MANAGEMENT,
    ("DELETE", "/v1/acl/policy/{name:str}"): MANAGEMENT,
    ("GET", "/v1/acl/tokens"): MANAGEMENT,
    ("POST", "/v1/acl/token"): MANAGEMENT,
    ("GET", "/v1/acl/token/self"): TOKEN,
    ("GET", "/v1/acl/token/{accessor_id:str}"): TOKEN,
    ("POST", "/v1/acl/token/{accessor_id:str}"): MANAGEMENT,
    ("DELETE", "/v1/acl/token/{accessor_id:str}"): MANAGEMENT,
    ("GET", "/v1/acl/roles"): TOKEN,
    ("POST", "/v1/acl/role"): MANAGEMENT,
    ("GET", "/v1/acl/role/{role_id:str}"): TOKEN,
    ("POST", "/v1/acl/role/{role_id:str}"): MANAGEMENT,
    ("DELETE", "/v1/acl/role/{role_id:str}"): MANAGEMENT,
    ("GET", "/v1/acl/role/name/{name:str}"): TOKEN,
    # gitorch's own: what the caller's token may do (the UI's buttons); it answers only
    # about the presented token, the anonymous policy when none, and refuses a bad one
    ("GET", "/v1/internal/ui/capabilities"): OPEN,
}
_METHOD = {"HEAD": "GET", "PUT": "POST"}
# Nomad's registrationsAreAllowed: with the scheduler configuration's
# RejectJobRegistration, only management tokens register, revert, dispatch or scale jobs
REGISTRATIONS = frozenset(
    ("POST", p) for p in ("/v1/jobs", _JOB, f"{_JOB}/dispatch", f"{_JOB}/scale", f"{_JOBS}/revert")
)
REGISTRATION_DISABLED = (
    "Job registration, dispatch, and scale are disabled by the scheduler configuration"
)


def check_for(method: str, route: BaseRoute) -> Check | None:
    if isinstance(route, Mount):
        return CHECKS.get(("*", route.path))
    if isinstance(route, WebSocketRoute):  # the upgrade is a GET
        return CHECKS.get(("GET", route.path))
    return CHECKS.get((_METHOD.get(method, method), getattr(route, "path", "")))


def undeclared(routes: Iterable[BaseRoute]) -> list[str]:
    """Every ``METHOD path`` of ``routes`` with no entry in ``CHECKS``."""
    out = []
    for route in routes:
        if isinstance(route, Mount) and check_for("*", route) is None:
            out.append(f"* {route.path}")
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if check_for(method, route) is None:
                    out.append(f"{method} {route.path}")
        if isinstance(route, WebSocketRoute) and check_for("GET", route) is None:
            out.append(f"GET (websocket) {route.path}")
    return out


def presented_token(headers: Headers) -> str:
    token = headers.get("x-nomad-token", "")
    auth = headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[len("bearer ") :].strip()
    return token


class AclGate:
    """ASGI middleware: resolve the token, find the route's check, allow or refuse."""

    def __init__(
        self,
        app: ASGIApp,
        routes: list[BaseRoute],
        resolver: AclResolver,
        state: Callable[[], StateView],
    ) -> None:
        self.app = app
        self.routes = routes
        self.resolver = resolver
        self.state = state
        for missing in undeclared(routes):
            log.error(
                "route %s has no declared ACL check: only management tokens reach it", missing
            )

    async def __call__(self, scope_: Scope, receive: Receive, send: Send) -> None:
        if scope_["type"] not in ("http", "websocket"):  # a WebSocket upgrade is checked too
            await self.app(scope_, receive, send)
            return
        if scope_.get("state", {}).get("workload_identity") is not None:
            # A task's workload identity (a JWT, not an ACL token): the workload gate
            # outside this one verified it and confined it to the few routes it may use.
            await self.app(scope_, receive, send)
            return
        route = next((r for r in self.routes if r.matches(scope_)[0] == Match.FULL), None)
        matched = scope_
        if route is None and scope_["type"] == "http":  # a plain request to a WebSocket
            matched = {**scope_, "type": "websocket"}  # path is judged as its upgrade
            sockets = [r for r in self.routes if isinstance(r, WebSocketRoute)]
            route = next((r for r in sockets if r.matches(matched)[0] == Match.FULL), None)
        if route is None:  # 404 or 405 from the router: nothing to protect
            await self.app(scope_, receive, send)
            return
        path_params: dict[str, Any] = route.matches(matched)[1].get("path_params", {})
        verb = scope_.get("method", "GET")  # a WebSocket upgrade has none: it is a GET
        check = check_for(verb, route)
        identity = self.resolver.resolve(presented_token(Headers(scope=scope_)))
        scope_.setdefault("state", {})["acl_identity"] = identity
        if check is None:
            check = MANAGEMENT
        if check.kind == "open":
            await self.app(scope_, receive, send)
            return
        if check.kind == "token":
            if identity.problem or identity.token is None:
                await self._refuse(scope_, receive, send, identity, "a valid ACL token", "")
                return
            await self.app(scope_, receive, send)
            return
        assert check.capability is not None
        namespace, receive = await self._namespace(scope_, receive, check, path_params)
        now = self.resolver.clock()
        if namespace == "*" and check.capability.scope == "namespace":
            ok = identity.allows_somewhere(check.capability.action)
        else:
            ok = identity.allows(check.capability, namespace, now)
        if not ok:
            await self._refuse(
                scope_, receive, send, identity, check.capability.describe(), namespace
            )
            return
        method = _METHOD.get(verb, verb)
        if (method, getattr(route, "path", "")) in REGISTRATIONS and not identity.management:
            if self.state().operator.config().reject_job_registration:
                refusal = text_response(f"Permission denied: {REGISTRATION_DISABLED}", 403)
                await refusal(scope_, receive, send)
                return
        own_node = bool(identity.node_id) and identity.node_id == path_params.get("node_id")
        if (
            check.list_filter
            and not identity.management
            and not own_node  # a client reads all of its own node's allocations
            and verb in ("GET", "HEAD")
        ):
            await self.app(scope_, receive, _ListFilter(send, identity, check.list_filter, now))
            return
        await self.app(scope_, receive, send)

    async def _namespace(
        self, scope_: Scope, receive: Receive, check: Check, params: dict[str, Any]
    ) -> tuple[str, Receive]:
        query = QueryParams(scope_.get("query_string", b""))
        namespace = (
            query.get("namespace") or Headers(scope=scope_).get("x-nomad-namespace") or ("default")
        )
        state = self.state()
        match check.namespace_of:
            case "alloc":
                found: Any = state.allocs.get(params.get("alloc_id", ""))
            case "eval":
                found = state.evals.get(params.get("eval_id", ""))
            case "deployment":
                found = state.deployments.get(params.get("id", ""))
            case "scaling":  # the policy's own namespace, as its target names it
                found = find_policy(state, params.get("policy_id", ""))
            case "job":
                body, receive = await _buffer(receive)
                return _job_namespace(body) or namespace, receive
            case _:
                found = None
        return (found.namespace if found is not None else namespace), receive

    async def _refuse(
        self,
        scope_: Scope,
        receive: Receive,
        send: Send,
        identity: Identity,
        needed: str,
        namespace: str,
    ) -> None:
        where = f' in namespace "{namespace}"' if namespace and "namespace" in needed else ""
        if identity.problem:
            who = f"{identity.problem}; "
        elif identity.token is None:
            who = "no ACL token was presented, and the anonymous policy does not allow this; "
        else:
            who = "the token's policies do not grant it; "
        message = f"Permission denied: this request needs {needed}{where}; {who}{HOW_TO_PASS}"
        await text_response(message, 403)(scope_, receive, send)


def _job_namespace(body: bytes) -> str:
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return ""  # the route answers the malformed body with 400
    job = raw.get("Job") if isinstance(raw, dict) else None
    found = job.get("Namespace") if isinstance(job, dict) else None
    return found if isinstance(found, str) else ""


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (bounded) and return it with a ``receive`` that replays it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            break  # the route refuses an oversized body itself
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


class _Listed(msgspec.Struct, rename={"namespace": "Namespace", "target": "Target"}):
    """What the list filter reads of an item; the rest of it is skipped, not decoded."""

    namespace: Any = msgspec.UNSET
    target: Any = msgspec.UNSET


_LISTED = msgspec.json.Decoder(list[_Listed])
_RAW_ITEMS = msgspec.json.Decoder(list[msgspec.Raw])


class _ListFilter:
    """Wraps ``send``: a JSON list answer loses the items of namespaces the token may
    not read (``?namespace=*``, node allocations). Each namespace is judged once per
    request, and the body is rewritten only when an item goes."""

    def __init__(self, send: Send, identity: Identity, action: str, now: int) -> None:
        self.send = send
        self.allowed = identity.namespace_filter(action, now)
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = self._filtered(b"".join(self.chunks))
        headers = [
            (k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    def _filtered(self, body: bytes) -> bytes:
        assert self.start is not None
        if self.start.get("status") != 200:
            return body
        try:
            listed = _LISTED.decode(body)
        except msgspec.ValidationError:  # not a list of objects: judge it item by item
            return self._filtered_any(body)
        except msgspec.DecodeError:
            return body
        named = {item.namespace for item in listed}
        if all(isinstance(n, str) for n in named):  # the usual case: judge the few names
            if all(self.allowed(n) for n in named):
                return body
            keep = [self.allowed(item.namespace) for item in listed]
        else:
            keep = [self.allowed(_listed_namespace(item)) for item in listed]
            if all(keep):
                return body
        raw = _RAW_ITEMS.decode(body)
        return b"[" + b",".join(r for r, kept in zip(raw, keep, strict=True) if kept) + b"]"

    def _filtered_any(self, body: bytes) -> bytes:
        try:
            items = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return body
        if not isinstance(items, list):
            return body
        kept = [
            item
            for item in items
            if not isinstance(item, dict) or self.allowed(_item_namespace(item))
        ]
        return body if len(kept) == len(items) else msgspec.json.encode(kept)


def _listed_namespace(item: _Listed) -> str:
    """``_item_namespace`` of an item decoded as ``_Listed``."""
    target = item.target
    if item.namespace is msgspec.UNSET and isinstance(target, dict) and "Namespace" in target:
        return str(target["Namespace"])
    return "default" if item.namespace is msgspec.UNSET else str(item.namespace)


def _item_namespace(item: dict[str, Any]) -> str:
    """A listed item's namespace: its ``Namespace``, or a scaling policy's target's."""
    target = item.get("Target")
    if "Namespace" not in item and isinstance(target, dict) and "Namespace" in target:
        return str(target["Namespace"])
    return str(item.get("Namespace", "default"))
