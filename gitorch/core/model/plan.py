"""A plan: what the scheduler wants changed for one evaluation, kept small for the Raft log.

Placements carry only what varies per allocation (ID, group, index, node); the job,
version and eval are said once per plan. The state store expands them into Allocations.
"""

from __future__ import annotations

from gitorch.core.model.alloc import AllocatedDevice, AllocatedPort
from gitorch.core.model.base import Model
from gitorch.core.model.deployment import Deployment
from gitorch.core.model.evaluation import Evaluation


class Placement(Model, frozen=True, kw_only=True):
    id: str
    task_group: str
    index: int
    node_id: str
    previous_allocation: str = ""
    reschedule_delay: int | None = None  # set when this reschedules a failed allocation
    ports: list[AllocatedPort] = []
    devices: dict[str, list[AllocatedDevice]] = {}
    canary: bool = False  # placed beside the old version until the deployment is promoted


class AllocStop(Model, frozen=True, kw_only=True):
    id: str
    description: str
    client_status: str = ""  # "lost" when its node is down; empty leaves the client's status


class Plan(Model, frozen=True, kw_only=True):
    eval_id: str
    namespace: str = "default"
    job_id: str
    job_version: int = 0
    priority: int = 50
    placements: list[Placement] = []
    stops: list[AllocStop] = []
    eval_update: Evaluation | None = None
    new_evals: list[Evaluation] = []
    # the job version's deployment, created (or carried) by this plan: placements and
    # in-place updates join it
    deployment: Deployment | None = None
    deployment_updates: list[DeploymentStatusUpdate] = []
    inplace: list[str] = []  # allocations moved to ``job_version`` without a restart

    def is_noop(self) -> bool:
        return not self.placements and not self.stops and not self.inplace


class DeploymentStatusUpdate(Model, frozen=True, kw_only=True):
    """Nomad's DeploymentStatusUpdate: a deployment's new status (a newer job version
    cancels the older one's)."""

    deployment_id: str
    status: str
    status_description: str


class PlanAnnotations(Model, frozen=True, kw_only=True):
    """What `job plan` shows: counts of allocations per group and change type."""

    desired_tg_updates: dict[str, dict[str, int]] = {}
