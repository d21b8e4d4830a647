"""What a client agent reports about resource usage, in Nomad's wire shapes:
``/v1/client/stats`` (HostStats) and ``/v1/client/allocation/:id/stats``
(AllocResourceUsage, from each task driver's ``stats()``)."""

from __future__ import annotations

import msgspec

from gitorch.core.model.base import Model


class HostMemoryStats(Model, frozen=True, kw_only=True):
    total: int = 0
    available: int = 0
    used: int = 0
    free: int = 0


class HostCPUStats(Model, frozen=True, kw_only=True):
    """One CPU's busy shares in percent over the last sampling interval."""

    cpu: str
    user: float = 0.0
    system: float = 0.0
    idle: float = 0.0


class HostDiskStats(Model, frozen=True, kw_only=True):
    device: str = ""
    mountpoint: str = ""
    size: int = 0
    used: int = 0
    available: int = 0
    used_percent: float = 0.0
    inodes_used_percent: float = 0.0


class HostStats(Model, frozen=True, kw_only=True):
    """Nomad's HostStats. ``uptime`` in seconds, ``timestamp`` in unix nanoseconds."""

    memory: HostMemoryStats
    cpu: list[HostCPUStats] = []
    disk_stats: list[HostDiskStats] = []
    alloc_dir_stats: HostDiskStats | None = None
    device_stats: list[dict[str, object]] = []
    uptime: int = 0
    timestamp: int = 0
    cpu_ticks_consumed: float = msgspec.field(default=0.0, name="CPUTicksConsumed")


class MemoryStats(Model, frozen=True, kw_only=True):
    """Bytes. ``measured`` names the figures the driver really measured."""

    rss: int = msgspec.field(default=0, name="RSS")
    cache: int = 0
    swap: int = 0
    usage: int = 0
    max_usage: int = 0
    kernel_usage: int = 0
    kernel_max_usage: int = 0
    measured: list[str] = []


class CpuStats(Model, frozen=True, kw_only=True):
    """Percentages of one core (``percent`` over the interval since the previous
    sample); ``total_ticks`` in MHz consumed."""

    system_mode: float = 0.0
    user_mode: float = 0.0
    total_ticks: float = 0.0
    throttled_periods: int = 0
    throttled_time: int = 0
    percent: float = 0.0
    measured: list[str] = []


class ResourceUsage(Model, frozen=True, kw_only=True):
    memory_stats: MemoryStats = MemoryStats()
    cpu_stats: CpuStats = CpuStats()
    device_stats: list[dict[str, object]] = []


class TaskResourceUsage(Model, frozen=True, kw_only=True):
    resource_usage: ResourceUsage
    timestamp: int = 0
    pids: dict[str, ResourceUsage] = {}


class AllocResourceUsage(Model, frozen=True, kw_only=True):
    """The allocation's tasks' usage, summed in ``resource_usage``."""

    resource_usage: ResourceUsage
    tasks: dict[str, TaskResourceUsage] = {}
    timestamp: int = 0
