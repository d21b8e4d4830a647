"""The deployment watcher as a pure state machine: (deployment, its job, its
allocations, the job's versions, now) -> what to change, and when to look again.

Nomad's rules: newly judged allocations update the group counts; any unhealthy
allocation, or a group past its progress deadline, fails the deployment, and a group
with ``auto_revert`` then brings back the latest stable version; canaries are promoted
when every group with canaries has ``auto_promote`` and its canaries are healthy; the
deployment succeeds when every group is done (the server then marks the version
stable). Every change asks for an evaluation so the scheduler places the next batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import msgspec

from gitorch.core.deployments.health import judge
from gitorch.core.deployments.ledger import count_health
from gitorch.core.model import Allocation, Deployment, Job
from gitorch.core.model.deployment import (
    DESC_FAILED_ALLOCS,
    DESC_PROGRESS_DEADLINE,
    DESC_RUNNING,
    DESC_SUCCESSFUL,
    DeploymentState,
)
from gitorch.core.model.service import CheckResult


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """What one look at a deployment decided; ``wake``: look again then (ns, 0: on
    the next change only)."""

    health: list[tuple[str, bool, int]] = []  # (alloc ID, healthy, at)
    promote: list[str] = []
    status: str = ""
    description: str = ""
    revert: Job | None = None
    evaluate: bool = False
    wake: int = 0

    def changes(self) -> bool:
        return bool(self.health or self.promote or self.status or self.revert)


def step(
    d: Deployment,
    job: Job | None,
    allocs: Sequence[Allocation],
    versions: Iterable[Job],
    now: int,
    checks: Callable[[str], Sequence[CheckResult]] | None = None,
) -> Step:
    """Look at ``d`` (``job``: the version it deploys; ``allocs``: the job's;
    ``checks``: an allocation's check results, for ``health_check = "checks"``)."""
    if not d.active() or job is None:
        return Step()
    groups = dict(d.task_groups)
    health: list[tuple[str, bool, int]] = []
    wakes: list[int] = []
    canary_ok: dict[str, int] = {}
    for alloc in allocs:
        group = job.group(alloc.task_group)
        if alloc.deployment_id != d.id or group is None or group.update is None:
            continue
        status = alloc.deployment_status
        healthy = status.healthy if status is not None else None
        if healthy is None and alloc.desired_status == "run":
            results = checks(alloc.id) if checks is not None else None
            verdict = judge(alloc, group, group.update, now, results)
            if verdict.healthy is not None:
                healthy = verdict.healthy
                health.append((alloc.id, healthy, now))
                state = groups.get(alloc.task_group)
                if state is not None:
                    groups[alloc.task_group] = count_health(state, healthy, now)
            elif verdict.wake:
                wakes.append(verdict.wake)
        if healthy and status is not None and status.canary:
            canary_ok[alloc.task_group] = canary_ok.get(alloc.task_group, 0) + 1
    out = Step(health=health, evaluate=bool(health), wake=min(wakes, default=0))
    if d.status == "paused":
        return out
    failed = _failure(groups, now)
    if failed:
        auto_revert = any(s.auto_revert for s in groups.values())
        revert = _revert_target(d, versions) if auto_revert else None
        why = failed
        if auto_revert:
            why += (
                f" - rolling back to job version {revert.version}"
                if revert is not None
                else " - no stable job version to auto revert to"
            )
        return msgspec.structs.replace(
            out, status="failed", description=why, revert=revert, evaluate=True, wake=0
        )
    promote = _auto_promote(groups, canary_ok)
    if promote:
        groups.update({g: msgspec.structs.replace(groups[g], promoted=True) for g in promote})
        out = msgspec.structs.replace(out, promote=promote, evaluate=True)
        if not any(s.desired_canaries and not s.promoted for s in groups.values()):
            out = msgspec.structs.replace(out, description=DESC_RUNNING)
    if groups and all(s.done() for s in groups.values()):
        return msgspec.structs.replace(
            out, status="successful", description=DESC_SUCCESSFUL, evaluate=True, wake=0
        )
    deadlines = [s.require_progress_by for s in groups.values() if s.require_progress_by]
    wake = min([w for w in (out.wake, *deadlines) if w], default=0)
    return msgspec.structs.replace(out, wake=wake)


def _failure(groups: dict[str, DeploymentState], now: int) -> str:
    if any(s.unhealthy_allocs > 0 for s in groups.values()):
        return DESC_FAILED_ALLOCS
    for s in groups.values():
        if s.progress_deadline and s.require_progress_by and now >= s.require_progress_by:
            if not s.done():
                return DESC_PROGRESS_DEADLINE
    return ""


def _revert_target(d: Deployment, versions: Iterable[Job]) -> Job | None:
    """The latest stable version older than the failed one (Nomad's auto_revert)."""
    stable = [j for j in versions if j.stable and j.version < d.job_version]
    return max(stable, key=lambda j: j.version, default=None)


def _auto_promote(groups: dict[str, DeploymentState], healthy: dict[str, int]) -> list[str]:
    """Groups to promote: only when every group awaiting promotion auto-promotes and
    has its desired canaries healthy."""
    waiting = {g: s for g, s in groups.items() if s.desired_canaries > 0 and not s.promoted}
    if not waiting or not all(s.auto_promote for s in waiting.values()):
        return []
    if all(healthy.get(g, 0) >= s.desired_canaries for g, s in waiting.items()):
        return sorted(waiting)
    return []
