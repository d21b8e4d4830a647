"""Jobs as Nomad's API spells them: Job > TaskGroup > Task, with their blocks.

Durations are integer nanoseconds, as on Nomad's wire. Values are frozen.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from gitorch.core.model.base import Model
from gitorch.core.model.deployment import UpdateStrategy
from gitorch.core.model.drain import DisconnectStrategy, MigrateStrategy
from gitorch.core.model.identity import WorkloadIdentity
from gitorch.core.model.launch import DispatchPayloadConfig, ParameterizedJobConfig, PeriodicConfig
from gitorch.core.model.scaling import ScalingPolicy
from gitorch.core.model.service import Service as Service
from gitorch.core.model.service import ServiceCheck as ServiceCheck
from gitorch.core.model.vault import Vault

SECOND = 1_000_000_000
MINUTE = 60 * SECOND

JobType = Literal["service", "batch", "system", "sysbatch"]


class Constraint(Model, frozen=True, kw_only=True):
    ltarget: str = ""
    rtarget: str = ""
    operand: str = "="

    def describe(self) -> str:
        """Nomad's String() form, used as the key of ConstraintFiltered."""
        return f"{self.ltarget} {self.operand} {self.rtarget}".strip()


class RestartPolicy(Model, frozen=True, kw_only=True):
    attempts: int = 2
    interval: int = 30 * MINUTE
    delay: int = 15 * SECOND
    mode: Literal["fail", "delay"] = "fail"
    render_templates: bool = False


BATCH_RESTART = RestartPolicy(attempts=3, interval=24 * 60 * MINUTE, delay=15 * SECOND)

DelayFunction = Literal["constant", "exponential", "fibonacci"]


class ReschedulePolicy(Model, frozen=True, kw_only=True):
    """Nomad's ``reschedule`` block: when a failed allocation is replaced on another node.
    The defaults are a service job's."""

    attempts: int = 0
    interval: int = 0
    delay: int = 30 * SECOND
    delay_function: DelayFunction = "exponential"
    max_delay: int = 60 * MINUTE
    unlimited: bool = True


SERVICE_RESCHEDULE = ReschedulePolicy()
BATCH_RESCHEDULE = ReschedulePolicy(
    attempts=1,
    interval=24 * 60 * MINUTE,
    delay=5 * SECOND,
    delay_function="constant",
    max_delay=0,
    unlimited=False,
)


def default_reschedule(job_type: str) -> ReschedulePolicy:
    """Nomad's default reschedule policy for a job type."""
    return BATCH_RESCHEDULE if job_type in ("batch", "sysbatch") else SERVICE_RESCHEDULE


class Affinity(Model, frozen=True, kw_only=True):
    ltarget: str = ""
    rtarget: str = ""
    operand: str = "="
    weight: int = 50


class SpreadTarget(Model, frozen=True, kw_only=True):
    """``target "value" { percent }``: the share of a group's count wanted on nodes whose
    spread attribute has this value."""

    value: str
    percent: int = 0


class Spread(Model, frozen=True, kw_only=True):
    """``spread { attribute, weight, target ... }``: Nomad's allocation spreading. With no
    targets the allocations are spread evenly over the values seen."""

    attribute: str
    weight: int = 50
    spread_target: list[SpreadTarget] = []


class VolumeRequest(Model, frozen=True, kw_only=True):
    """A group's ``volume "name" { type = "host", source, read_only }``: the group runs
    only on nodes with a host volume named ``source``."""

    name: str
    type: str = "host"
    source: str = ""
    read_only: bool = False


class VolumeMount(Model, frozen=True, kw_only=True):
    """A task's ``volume_mount { volume, destination, read_only }``."""

    volume: str
    destination: str
    read_only: bool = False
    propagation_mode: str = "private"


class RequestedDevice(Model, frozen=True, kw_only=True):
    """``device "nvidia/gpu" { count, constraint, affinity }`` in a task's resources.
    ``name`` is ``type``, ``vendor/type`` or ``vendor/type/model``, as in Nomad."""

    name: str
    count: int = 1
    constraints: list[Constraint] = []
    affinities: list[Affinity] = []


class Resources(Model, frozen=True, kw_only=True):
    cpu: int = 100
    memory_mb: int = 300
    memory_max_mb: int = 0
    disk_mb: int = 0
    devices: list[RequestedDevice] = []


class EphemeralDisk(Model, frozen=True, kw_only=True):
    """A group's ``ephemeral_disk { size }``: disk one allocation asks of its node, beside
    the tasks' own ``disk`` (``sticky``/``migrate`` are not built; the decoder refuses
    them)."""

    size_mb: int = 300
    sticky: bool = False
    migrate: bool = False


class Port(Model, frozen=True, kw_only=True):
    """``port "http" { static = 8080  to = 80 }``: ``value`` is the static host port
    (0 for a dynamic one), ``to`` the port inside the task (docker mapping)."""

    label: str
    value: int = 0
    to: int = 0
    host_network: str = "default"


class NetworkResource(Model, frozen=True, kw_only=True):
    """A group's ``network {}``: static (reserved) and dynamic ports."""

    mode: str = "host"
    reserved_ports: list[Port] = []
    dynamic_ports: list[Port] = []


class ChangeScript(Model, frozen=True, kw_only=True):
    """A template's ``change_script``: run through the driver's exec inside the task
    when the template's output changes (``change_mode = "script"``)."""

    command: str = ""
    args: list[str] = []
    timeout: int = 5 * SECOND
    fail_on_error: bool = False


class WaitConfig(Model, frozen=True, kw_only=True):
    """A template's ``wait { min max }``: after a change of its inputs, render once
    they have been quiet for ``min``, and at the latest ``max`` after the first change."""

    min: int = 0
    max: int = 0


class Template(Model, frozen=True, kw_only=True):
    source_path: str = ""
    dest_path: str = ""
    embedded_tmpl: str = ""
    change_mode: str = "restart"
    change_signal: str = ""
    perms: str = "0644"
    left_delim: str = "{{"
    right_delim: str = "}}"
    env: bool = False
    error_on_missing_key: bool = False
    uid: int = -1  # -1: leave the owner as the agent writes it
    gid: int = -1
    change_script: ChangeScript | None = None
    once: bool = False  # render at task start only, never watch the inputs
    splay: int = 5 * SECOND  # a random delay up to this before restarting/signalling
    wait: WaitConfig | None = None  # None: the agent's default (Nomad's: 5s min, 4m max)


class TaskArtifact(Model, frozen=True, kw_only=True):
    """A task's ``artifact``: fetched into the task dir before the task starts
    (gitorch.agent.artifacts). Field names are Nomad's (``GetterSource``...)."""

    getter_source: str = ""
    getter_options: dict[str, str] = {}
    getter_headers: dict[str, str] = {}
    getter_mode: Literal["any", "file", "dir"] = "any"
    getter_insecure: bool = False
    relative_dest: str = "local/"


class LogConfig(Model, frozen=True, kw_only=True):
    max_files: int = 10
    max_file_size_mb: int = 10


LifecycleHook = Literal["prestart", "poststart", "poststop"]


class TaskLifecycle(Model, frozen=True, kw_only=True):
    """A task's ``lifecycle { hook, sidecar }``: when it runs relative to the group's main
    tasks (those without one). A sidecar runs beside them and is restarted even after
    exit 0; a non-sidecar hook runs to completion."""

    hook: LifecycleHook
    sidecar: bool = False


class Task(Model, frozen=True, kw_only=True):
    name: str
    driver: str
    user: str = ""
    config: dict[str, Any] = {}
    env: dict[str, str] = {}
    services: list[Service] = []
    constraints: list[Constraint] = []
    resources: Resources = Resources()
    meta: dict[str, str] = {}
    kill_timeout: int = 5 * SECOND
    kill_signal: str = "SIGINT"
    templates: list[Template] = []
    log_config: LogConfig = LogConfig()
    leader: bool = False
    lifecycle: TaskLifecycle | None = None
    affinities: list[Affinity] = []
    restart_policy: RestartPolicy | None = None  # the group's, merged with the task's block
    dispatch_payload: DispatchPayloadConfig | None = None
    identity: WorkloadIdentity | None = None  # the default workload identity's block
    volume_mounts: list[VolumeMount] = []
    artifacts: list[TaskArtifact] = []
    vault: Vault | None = None  # its own block, else its group's, else its job's


class TaskGroup(Model, frozen=True, kw_only=True):
    name: str
    count: int = 1
    constraints: list[Constraint] = []
    tasks: list[Task] = []
    restart_policy: RestartPolicy | None = None
    reschedule_policy: ReschedulePolicy | None = None
    services: list[Service] = []
    meta: dict[str, str] = {}
    networks: list[NetworkResource] = []
    affinities: list[Affinity] = []
    update: UpdateStrategy | None = None  # the job's block merged with the group's
    migrate: MigrateStrategy | None = None  # the job's block merged with the group's
    disconnect: DisconnectStrategy | None = None
    max_client_disconnect: int | None = None  # the older spellings of ``disconnect``
    stop_after_client_disconnect: int | None = None
    spreads: list[Spread] = []
    volumes: dict[str, VolumeRequest] = {}
    ephemeral_disk: EphemeralDisk | None = None
    scaling: ScalingPolicy | None = None  # read by an external autoscaler

    def resources(self) -> Resources:
        """The sum of the group's task resources and its ephemeral disk: what one
        allocation asks of a node."""
        disk = self.ephemeral_disk.size_mb if self.ephemeral_disk is not None else 0
        return Resources(
            cpu=sum(t.resources.cpu for t in self.tasks),
            memory_mb=sum(t.resources.memory_mb for t in self.tasks),
            disk_mb=disk + sum(t.resources.disk_mb for t in self.tasks),
        )


class JobSource(Model, frozen=True, kw_only=True):
    """Where a job registered from Git came from (a gitorch addition to Nomad's Job)."""

    file: str
    commit: str
    blob: str = ""


class Job(Model, frozen=True, kw_only=True):
    id: str
    name: str = ""
    namespace: str = "default"
    region: str = "global"
    type: JobType = "service"
    priority: int = 50
    datacenters: list[str] = msgspec.field(default_factory=lambda: ["*"])
    all_at_once: bool = False
    constraints: list[Constraint] = []
    affinities: list[Affinity] = []
    spreads: list[Spread] = []
    node_pool: str = "default"
    task_groups: list[TaskGroup] = []
    meta: dict[str, str] = {}
    update: UpdateStrategy | None = None
    stop: bool = False
    status: str = "pending"
    status_description: str = ""
    version: int = 0
    stable: bool = False
    submit_time: int = 0
    create_index: int = 0
    modify_index: int = 0
    job_modify_index: int = 0
    source: JobSource | None = None
    periodic: PeriodicConfig | None = None
    parameterized_job: ParameterizedJobConfig | None = None
    payload: bytes = b""  # a dispatched job's payload (base64 on the wire, as Nomad)
    parent_id: str = ""
    dispatched: bool = False
    dispatch_idempotency_token: str = ""

    def is_periodic(self) -> bool:
        return self.periodic is not None

    def is_parameterized(self) -> bool:
        """A parameterized job that is not itself a dispatched child (Nomad's rule)."""
        return self.parameterized_job is not None and not self.dispatched

    def is_periodic_active(self) -> bool:
        """Nomad's IsPeriodicActive: the leader launches children of this job."""
        return (
            self.periodic is not None
            and self.periodic.enabled
            and not self.stop
            and not self.is_parameterized()
        )

    def is_parent(self) -> bool:
        """A periodic or parameterized job: it runs nothing itself, its children do."""
        return self.is_periodic() or self.is_parameterized()

    def group(self, name: str) -> TaskGroup | None:
        for tg in self.task_groups:
            if tg.name == name:
                return tg
        return None

    def reschedule_policy(self, group: TaskGroup) -> ReschedulePolicy:
        """The group's reschedule policy, or the job type's default when it has none."""
        if group.reschedule_policy is not None:
            return group.reschedule_policy
        return default_reschedule(self.type)

    def spec_key(self) -> Job:
        """The job with every server-set field cleared: equal keys mean an unchanged spec."""
        return Job(
            id=self.id,
            name=self.name,
            namespace=self.namespace,
            region=self.region,
            type=self.type,
            priority=self.priority,
            datacenters=self.datacenters,
            all_at_once=self.all_at_once,
            constraints=self.constraints,
            affinities=self.affinities,
            spreads=self.spreads,
            node_pool=self.node_pool,
            task_groups=self.task_groups,
            meta=self.meta,
            update=self.update,
            stop=self.stop,
            periodic=self.periodic,
            parameterized_job=self.parameterized_job,
            payload=self.payload,
            parent_id=self.parent_id,
            dispatched=self.dispatched,
        )
