"""Evaluations and the placement metrics that explain them."""

from __future__ import annotations

from typing import Literal

from gitorch.core.model.base import Model

EvalStatus = Literal["pending", "complete", "failed", "blocked", "canceled"]
TRIGGERS = (
    "job-register",
    "job-deregister",
    "node-update",
    "node-drain",
    "alloc-failure",
    "failed-follow-up",
    "max-plan-attempts",
    "queued-allocs",
)


class AllocMetric(Model, frozen=True, kw_only=True):
    """Why a task group could not be (fully) placed: Nomad's AllocMetric."""

    nodes_evaluated: int = 0
    nodes_filtered: int = 0
    nodes_in_pool: int = 0
    nodes_available: dict[str, int] = {}
    class_filtered: dict[str, int] = {}
    constraint_filtered: dict[str, int] = {}
    nodes_exhausted: int = 0
    class_exhausted: dict[str, int] = {}
    dimension_exhausted: dict[str, int] = {}
    coalesced_failures: int = 0


class Evaluation(Model, frozen=True, kw_only=True):
    id: str
    namespace: str = "default"
    priority: int = 50
    type: str = "service"
    triggered_by: str = "job-register"
    job_id: str = ""
    job_modify_index: int = 0
    node_id: str = ""
    deployment_id: str = ""
    status: EvalStatus = "pending"
    status_description: str = ""
    failed_tg_allocs: dict[str, AllocMetric] = {}
    queued_allocations: dict[str, int] = {}
    blocked_eval: str = ""
    previous_eval: str = ""
    wait_until: int = 0
    create_index: int = 0
    modify_index: int = 0
    create_time: int = 0
    modify_time: int = 0

    def terminal(self) -> bool:
        return self.status in ("complete", "failed", "canceled")
