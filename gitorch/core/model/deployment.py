"""Deployments as Nomad's API spells them: the ``update`` block (UpdateStrategy), a
deployment per service-job version with per-group state, and an allocation's health.

Durations are integer nanoseconds; times are unix nanoseconds, fixed by the leader.
"""

from __future__ import annotations

from typing import Literal

from gitorch.core.model.base import Model

SECOND = 1_000_000_000
MINUTE = 60 * SECOND

HealthCheck = Literal["checks", "task_states", "manual"]
HEALTH_CHECKS: tuple[str, ...] = ("checks", "task_states", "manual")

DeploymentStatusName = Literal["running", "paused", "failed", "successful", "cancelled"]
ACTIVE: frozenset[str] = frozenset({"running", "paused"})

# Nomad's status descriptions, so a user's scripts read the same text.
DESC_RUNNING = "Deployment is running"
DESC_RUNNING_CANARIES = "Deployment is running but requires manual promotion"
DESC_PAUSED = "Deployment is paused"
DESC_SUCCESSFUL = "Deployment completed successfully"
DESC_NEWER_JOB = "Cancelled due to newer version of job"
DESC_STOPPED_JOB = "Cancelled because job is stopped"
DESC_FAILED_ALLOCS = "Failed due to unhealthy allocations"
DESC_PROGRESS_DEADLINE = "Failed due to progress deadline"
DESC_FAILED_BY_USER = "Deployment marked as failed"


class UpdateStrategy(Model, frozen=True, kw_only=True):
    """Nomad's ``update`` block. Nomad's defaults; ``max_parallel = 0`` turns rolling
    updates and deployments off for the group."""

    stagger: int = 30 * SECOND
    max_parallel: int = 1
    health_check: HealthCheck = "checks"
    min_healthy_time: int = 10 * SECOND
    healthy_deadline: int = 5 * MINUTE
    progress_deadline: int = 10 * MINUTE
    auto_revert: bool = False
    auto_promote: bool = False
    canary: int = 0

    def rolling(self) -> bool:
        """Does this strategy make deployments (Nomad's ``!IsEmpty()``)?"""
        return self.max_parallel > 0


class DeploymentState(Model, frozen=True, kw_only=True):
    """One task group's progress in a deployment (Nomad's DeploymentState)."""

    auto_revert: bool = False
    auto_promote: bool = False
    progress_deadline: int = 0
    require_progress_by: int = 0
    promoted: bool = False
    placed_canaries: list[str] = []
    desired_canaries: int = 0
    desired_total: int = 0
    placed_allocs: int = 0
    healthy_allocs: int = 0
    unhealthy_allocs: int = 0

    def done(self) -> bool:
        """Every wanted allocation healthy, canaries promoted (if any)."""
        canaries_ok = self.desired_canaries == 0 or self.promoted
        return canaries_ok and self.healthy_allocs >= self.desired_total


class Deployment(Model, frozen=True, kw_only=True):
    id: str
    namespace: str = "default"
    job_id: str
    job_version: int = 0
    job_modify_index: int = 0
    job_spec_modify_index: int = 0
    job_create_index: int = 0
    is_multiregion: bool = False
    task_groups: dict[str, DeploymentState] = {}
    status: DeploymentStatusName = "running"
    status_description: str = DESC_RUNNING
    eval_priority: int = 50
    create_index: int = 0
    modify_index: int = 0
    create_time: int = 0
    modify_time: int = 0

    def active(self) -> bool:
        return self.status in ACTIVE

    def has_unpromoted_canaries(self) -> bool:
        return any(s.desired_canaries > 0 and not s.promoted for s in self.task_groups.values())


class AllocDeploymentStatus(Model, frozen=True, kw_only=True):
    """An allocation's health in its deployment; ``healthy`` None: not yet known."""

    healthy: bool | None = None
    timestamp: int = 0
    canary: bool = False
    modify_index: int = 0

    def is_healthy(self) -> bool:
        return self.healthy is True

    def is_unhealthy(self) -> bool:
        return self.healthy is False
