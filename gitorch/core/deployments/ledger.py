"""The deployments table's bookkeeping, called by ``StateStore.apply``: pure functions
from (table, command parts, index, now) to new values. Kept here so the state store
stays one ``match`` and this concept stays in one place."""

from __future__ import annotations

from collections.abc import Iterable

from gitorch.core.idset import IdSet
from gitorch.core.model import Allocation, AllocDeploymentStatus, Deployment, Plan, replace
from gitorch.core.model.deployment import DeploymentState
from gitorch.core.pmap import PMap
from gitorch.core.stateindex import with_ids

Table = PMap[str, Deployment]
JobIndex = PMap[tuple[str, str], IdSet]


def record_plan(
    table: Table,
    by_job: JobIndex,
    plan: Plan,
    placed: Iterable[Allocation],
    moved: Iterable[Allocation],
    idx: int,
    now: int,
) -> tuple[Table, JobIndex]:
    """The plan's deployment upserted, its status updates applied, and its placements
    (``placed``) and in-place updates (``moved``) counted in their groups."""
    for up in plan.deployment_updates:
        old = table.get(up.deployment_id)
        if old is not None and old.active():
            changed = replace(
                old,
                status=up.status,
                status_description=up.status_description,
                modify_index=idx,
                modify_time=now,
            )
            table = table.set(old.id, changed)
    d = plan.deployment
    if d is None:
        return table, by_job
    old = table.get(d.id)
    if old is None:
        d = replace(d, create_index=idx, create_time=now)
        key = (d.namespace, d.job_id)
        by_job = by_job.set(key, with_ids(by_job.get(key), (d.id,)))
    else:
        d = old
    groups = dict(d.task_groups)
    for alloc in [*placed, *moved]:
        state = groups.get(alloc.task_group)
        if state is None:
            continue
        canaries = state.placed_canaries
        status = alloc.deployment_status
        if status is not None and status.canary:
            canaries = [*canaries, alloc.id]
        groups[alloc.task_group] = replace(
            state, placed_allocs=state.placed_allocs + 1, placed_canaries=canaries
        )
    d = replace(d, task_groups=groups, modify_index=idx, modify_time=now)
    return table.set(d.id, d), by_job


def placed_status(plan: Plan, canary: bool) -> tuple[str, AllocDeploymentStatus | None]:
    """A new allocation's DeploymentID and DeploymentStatus under ``plan``."""
    if plan.deployment is None:
        return "", None
    return plan.deployment.id, AllocDeploymentStatus(canary=True) if canary else None


def record_health(
    d: Deployment,
    allocs: dict[str, Allocation],
    health: Iterable[tuple[str, bool, int]],
    idx: int,
) -> tuple[Deployment, dict[str, Allocation]]:
    """Health reports (alloc ID, healthy, timestamp) applied to the allocations of ``d``
    that have none yet, counted in their groups; healthy ones push the group's
    progress deadline out (Nomad's RequireProgressBy)."""
    groups = dict(d.task_groups)
    changed: dict[str, Allocation] = {}
    for alloc_id, healthy, at in health:
        alloc = allocs.get(alloc_id)
        if alloc is None or alloc.deployment_id != d.id:
            continue
        old = alloc.deployment_status or AllocDeploymentStatus()
        if old.healthy is not None:
            continue
        status = replace(old, healthy=healthy, timestamp=at, modify_index=idx)
        changed[alloc_id] = replace(alloc, deployment_status=status, modify_index=idx)
        state = groups.get(alloc.task_group)
        if state is not None:
            groups[alloc.task_group] = count_health(state, healthy, at)
    return replace(d, task_groups=groups), changed


def count_health(state: DeploymentState, healthy: bool, at: int) -> DeploymentState:
    """One more healthy (or unhealthy) allocation in a group's state."""
    if not healthy:
        return replace(state, unhealthy_allocs=state.unhealthy_allocs + 1)
    by = at + state.progress_deadline if state.progress_deadline else 0
    return replace(
        state,
        healthy_allocs=state.healthy_allocs + 1,
        require_progress_by=max(state.require_progress_by, by),
    )


def promote(d: Deployment, groups: Iterable[str]) -> Deployment:
    """``d`` with the canaries of ``groups`` promoted."""
    states = dict(d.task_groups)
    for name in groups:
        state = states.get(name)
        if state is not None and state.desired_canaries > 0:
            states[name] = replace(state, promoted=True)
    return replace(d, task_groups=states)
