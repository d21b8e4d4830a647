"""The host's resource usage for ``/v1/client/stats`` (Nomad's HostStats), by psutil:
memory, per-CPU busy shares since the previous call, every mounted disk, the disk
that holds the allocation dirs, and uptime."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import psutil

from gitorch.core.model.clientstats import (
    HostCPUStats,
    HostDiskStats,
    HostMemoryStats,
    HostStats,
)

log = logging.getLogger(__name__)
MIN_INTERVAL_S = 0.1


class HostSampler:
    """Samples the host; CPU shares are over the time since the previous sample (the
    first sample measures a short interval of its own)."""

    def __init__(self, alloc_dir: str, mhz_total: float = 0.0) -> None:
        self.alloc_dir = alloc_dir
        self.mhz_total = mhz_total
        self._lock = threading.Lock()
        self._last: tuple[float, list[object]] | None = None

    def _per_cpu(self) -> list[object]:
        """Per-CPU time shares since the previous call; a call too soon after it (or
        the first) measures 100 ms itself."""
        with self._lock:
            now = time.monotonic()
            if self._last is not None and now - self._last[0] < MIN_INTERVAL_S:
                return self._last[1]
            interval = MIN_INTERVAL_S if self._last is None else None
            shares: list[object] = list(psutil.cpu_times_percent(interval=interval, percpu=True))
            self._last = (time.monotonic(), shares)
            return shares

    def sample(self) -> HostStats:
        per_cpu: list[Any] = self._per_cpu()
        cpus = [
            HostCPUStats(cpu=f"cpu{i}", user=c.user, system=c.system, idle=c.idle)
            for i, c in enumerate(per_cpu)
        ]
        busy = sum(100.0 - c.idle for c in cpus) / max(1, len(cpus))
        mem = psutil.virtual_memory()
        memory = HostMemoryStats(
            total=mem.total, available=mem.available, used=mem.used, free=mem.free
        )
        return HostStats(
            memory=memory,
            cpu=cpus,
            disk_stats=_disks(),
            alloc_dir_stats=_disk("", self.alloc_dir),
            uptime=int(time.time() - psutil.boot_time()),
            timestamp=time.time_ns(),
            cpu_ticks_consumed=busy / 100.0 * self.mhz_total,
        )


def _disk(device: str, path: str) -> HostDiskStats | None:
    try:
        usage = psutil.disk_usage(path)
    except OSError as exc:
        log.debug("disk usage of %s: %s", path, exc)
        return None
    inodes = 0.0
    try:
        st = os.statvfs(path)
        if st.f_files:
            inodes = 100.0 * (st.f_files - st.f_ffree) / st.f_files
    except OSError:
        inodes = 0.0
    return HostDiskStats(
        device=device,
        mountpoint=path,
        size=usage.total,
        used=usage.used,
        available=usage.free,
        used_percent=usage.percent,
        inodes_used_percent=inodes,
    )


def _disks() -> list[HostDiskStats]:
    out: list[HostDiskStats] = []
    for part in psutil.disk_partitions(all=False):
        stats = _disk(part.device, part.mountpoint)
        if stats is not None:
            out.append(stats)
    return out
