"""Values handed between the task runner and task drivers (Nomad's drivers.TaskConfig,
TaskHandle, ExitResult, TaskStatus, TaskResourceUsage and Fingerprint).

Pure types only: the task runner builds a ``TaskConfig``, a driver's ``start`` returns a
``TaskHandle`` (everything needed to re-attach after an agent restart; it round-trips
through msgspec JSON so the agent can persist it), ``wait`` returns an ``ExitResult``.

Directory layout (as Nomad's alloc dir)::

    <alloc root>/alloc/          alloc_dir: shared by the alloc's tasks (NOMAD_ALLOC_DIR)
    <alloc root>/alloc/logs/     log_dir: <task>.stdout.0 and <task>.stderr.0
    <alloc root>/<task>/         task_dir: holds local/, secrets/, tmp/; the chroot of
                                 drivers with filesystem isolation
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from gitorch.core.model.alloc import AllocatedDevice, AllocatedPort

DriverHealth = Literal["healthy", "unhealthy", "undetected"]
TaskState = Literal["running", "exited", "unknown"]
FSIsolation = Literal["none", "chroot", "image"]


class DeviceSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A device node a task is given (Nomad's DeviceSpec): the host's node, where the
    task sees it (the same path when empty) and the cgroup permissions (``rwm``)."""

    host_path: str
    task_path: str = ""
    permissions: str = "rwm"

    @property
    def target(self) -> str:
        return self.task_path or self.host_path


class DeviceMount(msgspec.Struct, frozen=True, kw_only=True):
    """A host path a device plugin needs inside the task (Nomad's Mount)."""

    host_path: str
    task_path: str
    read_only: bool = True


class HostMount(msgspec.Struct, frozen=True, kw_only=True):
    """A host volume bound into the task (Nomad's MountConfig): a group ``volume`` of
    ``type = "host"`` that a task's ``volume_mount`` places at ``task_path``."""

    volume: str
    host_path: str
    task_path: str
    read_only: bool = False


class TaskConfig(msgspec.Struct, frozen=True, kw_only=True):
    """One task as a driver is asked to run it; ``config`` and ``env`` are already
    interpolated. Paths are host paths."""

    alloc_id: str
    task_name: str
    driver: str
    job_name: str = ""
    group_name: str = ""
    namespace: str = "default"
    config: dict[str, Any] = {}
    env: dict[str, str] = {}
    task_dir: str
    alloc_dir: str
    log_dir: str
    user: str = ""
    cpu_mhz: int = 100
    cpu_limit_cores: float = 0.0
    """Hard CPU cap in cores (cgroup quota); 0 = no cap, ``cpu_mhz`` is only a weight."""
    memory_mb: int = 300
    memory_max_mb: int = 0
    """Nomad's memory oversubscription: the hard limit when above ``memory_mb``."""
    kill_signal: str = "SIGINT"
    kill_timeout_s: float = 5.0
    ports: list[AllocatedPort] = []
    """The allocation's ports (shared by its tasks): host ``value``, task-side ``to``."""
    devices: list[AllocatedDevice] = []
    """The device instances assigned to this task; device plugins turn them into
    environment variables and mounts (``NVIDIA_VISIBLE_DEVICES``...)."""
    device_specs: list[DeviceSpec] = []
    """Device nodes the device plugins reserved for the task; drivers with isolation
    make them visible inside it (bwrap ``--dev-bind``, docker ``devices``)."""
    device_mounts: list[DeviceMount] = []
    """Host paths the device plugins' reservations bind into the task."""
    mounts: list[HostMount] = []
    """Host volumes (``volume_mount``) that drivers with isolation bind into the task."""

    @property
    def id(self) -> str:
        """``<alloc_id>/<task_name>``: how messages and drivers name the task."""
        return f"{self.alloc_id}/{self.task_name}"

    def stdout_path(self) -> str:
        return f"{self.log_dir}/{self.task_name}.stdout.0"

    def stderr_path(self) -> str:
        return f"{self.log_dir}/{self.task_name}.stderr.0"


class TaskHandle(msgspec.Struct, frozen=True, kw_only=True):
    """What the agent persists for a started task, so that a new agent process can
    ``recover`` it. ``state`` is driver-defined and must hold only JSON values."""

    version: int = 1
    driver: str
    alloc_id: str
    task_name: str
    pid: int = 0
    started_at_ns: int = 0
    state: dict[str, Any] = {}

    @property
    def id(self) -> str:
        return f"{self.alloc_id}/{self.task_name}"


class ExitResult(msgspec.Struct, frozen=True, kw_only=True):
    """How a task ended. A task killed by a signal has ``signal`` set and
    ``exit_code = 128 + signal`` (Nomad's executor encoding). ``err`` is set when the
    driver could not learn the outcome."""

    exit_code: int = 0
    signal: int = 0
    oom_killed: bool = False
    err: str | None = None

    @property
    def successful(self) -> bool:
        return self.exit_code == 0 and self.signal == 0 and self.err is None


class TaskStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A driver's view of one task (Nomad's InspectTask)."""

    alloc_id: str
    task_name: str
    driver: str
    state: TaskState
    pid: int = 0
    started_at_ns: int = 0
    exit_result: ExitResult | None = None
    attributes: dict[str, str] = {}


class TaskStats(msgspec.Struct, frozen=True, kw_only=True):
    """Resource usage of a task's processes at ``timestamp_ns``; CPU times are totals
    since start, ``cpu_percent`` is over the interval since the previous sample."""

    timestamp_ns: int
    cpu_user_s: float = 0.0
    cpu_system_s: float = 0.0
    cpu_percent: float = 0.0
    memory_rss_bytes: int = 0
    memory_usage_bytes: int = 0
    pids: list[int] = []


class ExecCommand(msgspec.Struct, frozen=True, kw_only=True):
    """How to run a command inside a running task, interactively (Nomad's streaming
    ExecTask): the argv the agent spawns with pipes or a terminal, which enters the
    task's isolation itself (``docker exec``, ``nsenter``, ``ctr tasks exec``), its
    working directory and environment (None: the agent's own)."""

    argv: list[str]
    cwd: str | None = None
    env: dict[str, str] | None = None


class DriverFingerprint(msgspec.Struct, frozen=True, kw_only=True):
    """A driver's health on this node and its node attributes, named as in Nomad
    (``driver.docker.version``); the agent adds ``driver.<name> = "1"`` when healthy."""

    health: DriverHealth
    health_description: str = ""
    attributes: dict[str, str] = {}

    @property
    def healthy(self) -> bool:
        return self.health == "healthy"
