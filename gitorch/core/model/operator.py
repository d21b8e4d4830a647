"""The cluster's scheduler configuration, as Nomad's ``SchedulerConfiguration``
(``/v1/operator/scheduler/configuration``): one value, replicated through Raft."""

from __future__ import annotations

from typing import Final

from gitorch.core.model.base import Model

ALGORITHMS: Final = ("binpack", "spread")


class PreemptionConfig(Model, frozen=True, kw_only=True):
    """Which schedulers may evict lower-priority allocations (Nomad's defaults: system)."""

    system_scheduler_enabled: bool = True
    sys_batch_scheduler_enabled: bool = False
    batch_scheduler_enabled: bool = False
    service_scheduler_enabled: bool = False


class SchedulerConfiguration(Model, frozen=True, kw_only=True):
    """``scheduler_algorithm``: ``binpack`` fills the fullest node that fits, ``spread``
    the emptiest. ``reject_job_registration``: only management tokens may register,
    dispatch or scale jobs. ``pause_eval_broker``: the leader's broker hands out no
    evaluation until unpaused."""

    scheduler_algorithm: str = "binpack"
    preemption_config: PreemptionConfig = PreemptionConfig()
    memory_oversubscription_enabled: bool = False
    reject_job_registration: bool = False
    pause_eval_broker: bool = False
    node_limit_for_feasibility_checks: int = 0
    create_index: int = 0
    modify_index: int = 0

    def algorithm(self) -> str:
        """The algorithm in effect (Nomad's EffectiveSchedulerAlgorithm)."""
        return self.scheduler_algorithm or "binpack"

    def problem(self) -> str:
        """Why this configuration is invalid ('' when it is valid)."""
        if self.scheduler_algorithm not in ("", *ALGORITHMS):
            return (
                f"invalid scheduler algorithm: {self.scheduler_algorithm[:40]!r} "
                f"(one of {', '.join(ALGORITHMS)})"
            )
        if self.node_limit_for_feasibility_checks < 0:
            return "NodeLimitForFeasibilityChecks must not be negative"
        return ""
