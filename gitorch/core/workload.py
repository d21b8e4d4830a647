"""What a workload identity may do, decided from its claims alone (pure).

A task's workload identity (a JWT the servers signed for one task of one allocation)
reads, in its own namespace:

* the variables at ``nomad/jobs``, ``nomad/jobs/<job>``, ``nomad/jobs/<job>/<group>``
  and ``nomad/jobs/<job>/<group>/<task>`` (Nomad's implicit workload policy), and lists
  only those;
* service registrations (Nomad lets a workload discover services in its namespace,
  which is what ``nomadService`` in a template needs).

Nothing else: no writes, no jobs, no nodes, no other namespace.
"""

from __future__ import annotations

from gitorch.core.model.base import Model


class WorkloadClaims(Model, frozen=True, kw_only=True):
    """A verified identity: who it speaks for (the group comes from the allocation)."""

    namespace: str
    job_id: str
    group: str
    task: str
    alloc_id: str


def variable_paths(claims: WorkloadClaims) -> tuple[str, ...]:
    base = f"nomad/jobs/{claims.job_id}"
    return ("nomad/jobs", base, f"{base}/{claims.group}", f"{base}/{claims.group}/{claims.task}")


def may_read_variable(claims: WorkloadClaims, namespace: str, path: str) -> bool:
    return namespace == claims.namespace and path.strip("/") in variable_paths(claims)


def may_read_services(claims: WorkloadClaims, namespace: str) -> bool:
    return namespace == claims.namespace


# (method, route path) a workload identity may call at all; the route then narrows to
# the paths and namespaces above.
WORKLOAD_ROUTES = frozenset(
    {
        ("GET", "/v1/var/{path:path}"),
        ("GET", "/v1/vars"),
        ("GET", "/v1/services"),
        ("GET", "/v1/service/{name:str}"),
        ("GET", "/v1/allocation/{alloc_id:str}/services"),
        ("GET", "/v1/job/{job_id:str}/services"),
    }
)


def may_call(claims: WorkloadClaims, method: str, route: str, params: dict[str, str],
             namespace: str) -> str:  # fmt: skip
    """'' when the identity may call ``route`` with these path parameters, else why not."""
    method = "GET" if method == "HEAD" else method
    if (method, route) not in WORKLOAD_ROUTES:
        return "a workload identity may only read its own variables and its namespace's services"
    if route.startswith("/v1/var/") and not may_read_variable(
        claims, namespace, params.get("path", "")
    ):
        return (
            "a workload identity may only read the variables of its own job "
            f"(nomad/jobs/{claims.job_id}[/<group>[/<task>]]) in namespace {claims.namespace!r}"
        )
    if route in ("/v1/services", "/v1/service/{name:str}") and not may_read_services(
        claims, namespace
    ):
        return f"a workload identity may only read services of namespace {claims.namespace!r}"
    if route == "/v1/allocation/{alloc_id:str}/services" and params.get("alloc_id") != (
        claims.alloc_id
    ):
        return "a workload identity may only read its own allocation's services"
    if route == "/v1/job/{job_id:str}/services" and (
        params.get("job_id") != claims.job_id or namespace != claims.namespace
    ):
        return "a workload identity may only read its own job's services"
    return ""
