"""The reconciler's deployment rules, as small pure functions: which deployment a job
version has, how many destructive updates may start now (Nomad's computeLimit), which
allocations are unpromoted canaries, and the group state a new deployment starts with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gitorch.core.model import Allocation, Deployment, Job, TaskGroup
from gitorch.core.model.deployment import (
    DESC_NEWER_JOB,
    DESC_STOPPED_JOB,
    DeploymentState,
    UpdateStrategy,
)
from gitorch.core.model.plan import DeploymentStatusUpdate


def strategy(job: Job, group: TaskGroup) -> UpdateStrategy | None:
    """The group's rolling strategy, or None when its updates happen at once."""
    u = group.update
    if job.type != "service" or u is None or not u.rolling():
        return None
    return u


def current(job: Job, deployments: Iterable[Deployment]) -> Deployment | None:
    """The newest deployment of the job's current version, whatever its status."""
    mine = [d for d in deployments if d.job_version == job.version and d.job_id == job.id]
    return max(mine, key=lambda d: d.create_index, default=None)


def cancellations(
    job: Job | None, deployments: Iterable[Deployment]
) -> list[DeploymentStatusUpdate]:
    """Active deployments of other versions (or of a stopped job), cancelled as Nomad does."""
    out: list[DeploymentStatusUpdate] = []
    for d in deployments:
        if not d.active():
            continue
        if job is None or job.stop:
            why = DESC_STOPPED_JOB
        elif d.job_version != job.version:
            why = DESC_NEWER_JOB
        else:
            continue
        out.append(
            DeploymentStatusUpdate(deployment_id=d.id, status="cancelled", status_description=why)
        )
    return out


def promoted(d: Deployment | None, group: str) -> bool:
    """Are the group's canaries promoted (or does it have none to promote)?"""
    if d is None:
        return False
    state = d.task_groups.get(group)
    return state is None or state.desired_canaries == 0 or state.promoted


def is_canary_of(d: Deployment | None, alloc: Allocation) -> bool:
    """Is ``alloc`` a canary of ``d`` not yet promoted (kept beside the old version)?"""
    status = alloc.deployment_status
    return (
        d is not None
        and alloc.deployment_id == d.id
        and status is not None
        and status.canary
        and not promoted(d, alloc.task_group)
    )


def limit(u: UpdateStrategy, d: Deployment | None, allocs: Sequence[Allocation]) -> int:
    """How many destructive updates may start now: ``max_parallel`` less the deployment's
    allocations that are unhealthy or not yet healthy (Nomad's computeLimit); none while
    the deployment is paused, failed or cancelled."""
    if d is None:
        return u.max_parallel
    if d.status in ("paused", "failed", "cancelled"):
        return 0
    waiting = 0
    for a in allocs:
        if a.deployment_id != d.id or a.desired_status != "run":
            continue
        status = a.deployment_status
        if status is not None and status.is_unhealthy():
            waiting += 1
        elif (status is None or status.healthy is None) and not a.client_terminal():
            waiting += 1
    return max(0, u.max_parallel - waiting)


def group_state(u: UpdateStrategy, group: TaskGroup, canaries: bool, now: int) -> DeploymentState:
    """A group's state in a new deployment: ``canaries`` when its change is destructive."""
    return DeploymentState(
        auto_revert=u.auto_revert,
        auto_promote=u.auto_promote,
        progress_deadline=u.progress_deadline,
        require_progress_by=now + u.progress_deadline if u.progress_deadline else 0,
        desired_canaries=min(u.canary, group.count) if canaries else 0,
        desired_total=group.count,
    )
