"""One allocation's health in its deployment, judged by its task states.

Healthy: every main task (no lifecycle hook, or a sidecar) running for
``min_healthy_time`` since its last start, before ``healthy_deadline`` after the
allocation was created. Unhealthy: the client failed it, a main task failed or died,
or the deadline passed first. ``manual`` is never judged here (the user sets it with
``/v1/deployment/allocation-health``).

``health_check = "checks"`` (given the allocation's check results) also needs every
check of its services to pass, as Nomad's: healthy ``min_healthy_time`` after the later
of the tasks' start and the checks' last change to passing; checks still pending or
failing wait, and fail the allocation at the deadline. ``on_update`` says what a check
counts for: ``require_healthy`` (success only), ``ignore_warnings`` (success or
warning), ``ignore`` (nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from gitorch.core.model import Allocation, TaskGroup
from gitorch.core.model.deployment import UpdateStrategy
from gitorch.core.model.service import CheckResult, Service

NS = 1_000_000_000


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """``healthy`` None: not decided yet; judge again at ``wake`` (ns), if not 0."""

    healthy: bool | None = None
    wake: int = 0


def judge(
    alloc: Allocation,
    group: TaskGroup,
    u: UpdateStrategy,
    now: int,
    checks: Sequence[CheckResult] | None = None,
) -> Verdict:
    """The allocation's health at ``now`` (pure: the caller brings the clock).
    ``checks``: the allocation's check results (None: judge by task states alone)."""
    if u.health_check == "manual":
        return Verdict()
    if alloc.client_status == "failed" or alloc.client_status in ("complete", "lost"):
        return Verdict(healthy=False)
    deadline = alloc.create_time + u.healthy_deadline
    mains = [t.name for t in group.tasks if t.lifecycle is None or t.lifecycle.sidecar]
    states = [alloc.task_states.get(name) for name in mains]
    if any(s is not None and (s.failed or s.state == "dead") for s in states):
        return Verdict(healthy=False)
    if alloc.client_status == "running" and all(
        s is not None and s.state == "running" for s in states
    ):
        since = max((max(s.started_at, s.last_restart) for s in states if s is not None), default=0)
        if u.health_check == "checks" and checks is not None:
            passing_since = checks_passing_since(group, checks)
            if passing_since is None:
                return Verdict(healthy=False) if now >= deadline else Verdict(wake=deadline)
            since = max(since, passing_since)
        healthy_at = since + u.min_healthy_time
        if healthy_at > deadline:
            return Verdict(healthy=False) if now >= deadline else Verdict(wake=deadline)
        if now >= healthy_at:
            return Verdict(healthy=True)
        return Verdict(wake=healthy_at)
    if now >= deadline:
        return Verdict(healthy=False)
    return Verdict(wake=deadline)


def checks_passing_since(group: TaskGroup, results: Sequence[CheckResult]) -> int | None:
    """When every check that counts (by its ``on_update``) last turned passing (ns;
    0 when none counts), or None while one is missing, pending or failing."""
    rules = _on_update(group)
    counted = {key for key, rule in rules.items() if rule != "ignore"}
    seen: set[tuple[str, str]] = set()
    since = 0
    for r in results:
        key = (r.service, r.check)
        rule = rules.get(key, "require_healthy")
        if rule == "ignore":
            continue
        ok = r.status == "success" or (r.status == "warning" and rule == "ignore_warnings")
        if not ok:
            return None
        seen.add(key)
        since = max(since, r.timestamp * NS)
    return since if counted <= seen else None


def _on_update(group: TaskGroup) -> dict[tuple[str, str], str]:
    """(service, check) -> the check's ``on_update``, for the group's and its tasks'
    services (a service's ``on_update`` when the check keeps the default)."""
    services: list[Service] = [*group.services, *(s for t in group.tasks for s in t.services)]
    out: dict[tuple[str, str], str] = {}
    for svc in services:
        if svc.provider != "nomad":
            continue
        for check in svc.checks:
            rule = check.on_update
            if rule == "require_healthy" and svc.on_update != "require_healthy":
                rule = svc.on_update
            out[(svc.name, check.name)] = rule
    return out
