"""One allocation's health in its deployment, judged by its task states.

Healthy: every main task (no lifecycle hook, or a sidecar) running for
``min_healthy_time`` since its last start, before ``healthy_deadline`` after the
allocation was created. Unhealthy: the client failed it, a main task failed or died,
or the deadline passed first. ``health_check = "checks"`` uses task states too until
service checks report through the server; ``manual`` is never judged here (the user
sets it with ``/v1/deployment/allocation-health``).
"""

from __future__ import annotations

import msgspec

from gitorch.core.model import Allocation, TaskGroup
from gitorch.core.model.deployment import UpdateStrategy


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """``healthy`` None: not decided yet; judge again at ``wake`` (ns), if not 0."""

    healthy: bool | None = None
    wake: int = 0


def judge(alloc: Allocation, group: TaskGroup, u: UpdateStrategy, now: int) -> Verdict:
    """The allocation's health at ``now`` (pure: the caller brings the clock)."""
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
        healthy_at = since + u.min_healthy_time
        if healthy_at > deadline:
            return Verdict(healthy=False) if now >= deadline else Verdict(wake=deadline)
        if now >= healthy_at:
            return Verdict(healthy=True)
        return Verdict(wake=healthy_at)
    if now >= deadline:
        return Verdict(healthy=False)
    return Verdict(wake=deadline)
