"""Allocations: one task group of one job placed on one node."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from msgspec import field
from msgspec.structs import force_setattr

from gitorch.core.model.base import Model
from gitorch.core.model.deployment import AllocDeploymentStatus
from gitorch.core.model.drain import DesiredTransition
from gitorch.core.model.job import ReschedulePolicy, Resources

DesiredStatus = Literal["run", "stop", "evict"]
ClientStatus = Literal["pending", "running", "complete", "failed", "lost", "unknown"]
TERMINAL_CLIENT = frozenset({"complete", "failed", "lost"})


class TaskEvent(Model, frozen=True, kw_only=True):
    type: str
    time: int = 0
    message: str = ""
    display_message: str = ""
    exit_code: int = 0
    signal: int = 0
    fails_task: bool = False
    restart_reason: str = ""
    task_signal: str = ""


class TaskState(Model, frozen=True, kw_only=True):
    state: Literal["pending", "running", "dead"] = "pending"
    failed: bool = False
    restarts: int = 0
    last_restart: int = 0
    started_at: int = 0
    finished_at: int = 0
    events: list[TaskEvent] = []


class AllocatedPort(Model, frozen=True, kw_only=True):
    """A port the scheduler gave the allocation: host ``value``, task-side ``to``."""

    label: str
    value: int
    to: int = 0
    host_ip: str = ""


class AllocatedDevice(Model, frozen=True, kw_only=True):
    """Device instances the scheduler assigned to one task."""

    vendor: str
    type: str
    name: str
    device_ids: list[str] = []


class RescheduleEvent(Model, frozen=True, kw_only=True):
    """One reschedule: when, from which allocation and node, after what delay (ns)."""

    reschedule_time: int
    prev_alloc_id: str
    prev_node_id: str = ""
    delay: int = 0


class RescheduleTracker(Model, frozen=True, kw_only=True):
    """The reschedules that led to an allocation, carried from one replacement to the
    next (only the last few are kept: what the policy needs to count and to delay)."""

    events: list[RescheduleEvent] = []


MAX_UNLIMITED_EVENTS = 5  # Nomad's maxPastRescheduleEvents


def extend_tracker(
    tracker: RescheduleTracker | None, event: RescheduleEvent, policy: ReschedulePolicy
) -> RescheduleTracker:
    """``tracker`` with ``event`` added, trimmed to what ``policy`` still needs: the last
    ``attempts`` events (they decide eligibility) and at least two (fibonacci delays)."""
    keep = MAX_UNLIMITED_EVENTS if policy.unlimited else max(policy.attempts, 2)
    events = [*(tracker.events if tracker is not None else []), event]
    return RescheduleTracker(events=events[-keep:])


NO_DEVICES: dict[str, list[AllocatedDevice]] = {}
NO_TASK_STATES: dict[str, TaskState] = {}
"""The empty ``allocated_devices`` and ``task_states`` of every allocation that has none,
made or decoded, shared: models are never changed in place, and a dict of its own cost
each allocation 64 bytes (128 for both, ~120 MiB a server at 1,000,000)."""


def share_empties(allocs: Iterable[Allocation]) -> None:
    """Point just-decoded allocations' empty ``task_states`` and ``allocated_devices``
    at the shared ones (a dump writes ``{}``, which decodes to a dict of its own). It
    sets fields of frozen models, so it is only for allocations nothing else holds yet."""
    for alloc in allocs:
        if not alloc.task_states and alloc.task_states is not NO_TASK_STATES:
            force_setattr(alloc, "task_states", NO_TASK_STATES)
        if not alloc.allocated_devices and alloc.allocated_devices is not NO_DEVICES:
            force_setattr(alloc, "allocated_devices", NO_DEVICES)


def _no_devices() -> dict[str, list[AllocatedDevice]]:
    return NO_DEVICES


def _no_task_states() -> dict[str, TaskState]:
    return NO_TASK_STATES


class Allocation(Model, frozen=True, kw_only=True):
    id: str
    name: str
    namespace: str = "default"
    eval_id: str = ""
    node_id: str = ""
    node_name: str = ""
    job_id: str = ""
    job_version: int = 0
    task_group: str = ""
    resources: Resources = Resources()
    allocated_ports: tuple[AllocatedPort, ...] = ()  # a tuple: () is shared and untracked by the gc
    allocated_devices: dict[str, list[AllocatedDevice]] = field(default_factory=_no_devices)
    desired_status: DesiredStatus = "run"
    desired_description: str = ""
    desired_transition: DesiredTransition = DesiredTransition()
    client_status: ClientStatus = "pending"
    client_description: str = ""
    task_states: dict[str, TaskState] = field(default_factory=_no_task_states)
    previous_allocation: str = ""
    next_allocation: str = ""
    reschedule_tracker: RescheduleTracker | None = None
    deployment_id: str = ""
    deployment_status: AllocDeploymentStatus | None = None
    create_index: int = 0
    modify_index: int = 0
    alloc_modify_index: int = 0
    create_time: int = 0
    modify_time: int = 0

    def terminal(self) -> bool:
        """Nomad's TerminalStatus: the server wants it stopped, or the client is done."""
        return self.desired_status != "run" or self.client_status in TERMINAL_CLIENT

    def client_terminal(self) -> bool:
        return self.client_status in TERMINAL_CLIENT

    def index(self) -> int:
        """The N in ``job.group[N]``."""
        return int(self.name.rsplit("[", 1)[1].rstrip("]"))


def alloc_name(job_id: str, group: str, index: int) -> str:
    """Nomad's allocation name: ``job.group[index]``."""
    return f"{job_id}.{group}[{index}]"
