"""The node fingerprint: host facts under Nomad's attribute names, plus each driver's.

``fingerprint(data_dir, drivers)`` does the IO (psutil, platform, /proc) and returns a
plain value; ``merge_drivers`` (pure) folds driver fingerprints into the attributes the
way Nomad does: for a healthy driver ``driver.<name> = "1"`` and its own attributes.

Attributes: ``cpu.arch``, ``cpu.numcores``, ``cpu.frequency`` (MHz per core),
``cpu.totalcompute`` (MHz), ``cpu.modelname``, ``memory.totalbytes``,
``unique.storage.volume``, ``unique.storage.bytestotal``, ``unique.storage.bytesfree``,
``kernel.name``, ``kernel.version``, ``kernel.arch``, ``os.name``, ``os.version``,
``os.signals``, ``unique.hostname``, ``gitorch.version``.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import signal
import socket
from collections.abc import Mapping

import msgspec
import psutil

from gitorch.core.model.node import NodeCpu, NodeDisk, NodeMemory, NodeResources
from gitorch.core.task import DriverFingerprint
from gitorch.plugins.driver import Driver

MIB = 1 << 20
DEFAULT_MHZ = 1000
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "armv7l": "arm"}


class HostFingerprint(msgspec.Struct, frozen=True, kw_only=True):
    """What the agent reports about its node."""

    attributes: dict[str, str]
    cpu_mhz: int
    memory_mb: int
    disk_mb: int
    drivers: dict[str, DriverFingerprint] = {}

    @property
    def resources(self) -> NodeResources:
        return NodeResources(
            cpu=NodeCpu(cpu_shares=self.cpu_mhz),
            memory=NodeMemory(memory_mb=self.memory_mb),
            disk=NodeDisk(disk_mb=self.disk_mb),
        )


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo."""
    info: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def cpu_mhz_per_core(cpuinfo: Mapping[str, str]) -> int:
    """The CPU frequency in MHz: cpufreq's maximum, else /proc/cpuinfo, else 1000."""
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError):
        freq = None
    if freq is not None and (freq.max or freq.current):
        return int(freq.max or freq.current)
    try:
        mhz = int(float(cpuinfo.get("cpu MHz", "0")))
    except ValueError:
        mhz = 0
    return mhz or DEFAULT_MHZ


def _volume(path: str) -> str:
    """The device holding ``path`` (the longest mount point that contains it)."""
    best, device = "", ""
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint.rstrip("/") + "/"
        if (path.rstrip("/") + "/").startswith(mount) and len(mount) > len(best):
            best, device = mount, part.device
    return device


def _existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path) and path != "/":
        path = os.path.dirname(path)
    return path


def _os_release() -> dict[str, str]:
    try:
        return platform.freedesktop_os_release()
    except OSError:
        return {}


def host_attributes(data_dir: str, cpu_total_compute: int = 0) -> tuple[dict[str, str], int]:
    """Host attributes and the total CPU compute in MHz."""
    cpuinfo = _cpuinfo()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    mhz = cpu_mhz_per_core(cpuinfo)
    total = cpu_total_compute or mhz * cores
    storage = _existing(data_dir)
    disk = psutil.disk_usage(storage)
    release = _os_release()
    machine = platform.machine()
    try:
        version = importlib.metadata.version("gitorch")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    attributes = {
        "cpu.arch": _GOARCH.get(machine, machine),
        "cpu.numcores": str(cores),
        "cpu.frequency": str(total // cores),
        "cpu.totalcompute": str(total),
        "cpu.modelname": cpuinfo.get("model name", ""),
        "memory.totalbytes": str(psutil.virtual_memory().total),
        "unique.storage.volume": _volume(storage),
        "unique.storage.bytestotal": str(disk.total),
        "unique.storage.bytesfree": str(disk.free),
        "kernel.name": platform.system().lower(),
        "kernel.version": platform.release(),
        "kernel.arch": machine,
        "os.name": release.get("ID", platform.system().lower()),
        "os.version": release.get("VERSION_ID", ""),
        "os.signals": ",".join(sorted(s.name for s in signal.Signals if "_" not in s.name[3:])),
        "unique.hostname": socket.gethostname(),
        "gitorch.version": version,
    }
    return {k: v for k, v in attributes.items() if v}, total


def driver_fingerprints(drivers: Mapping[str, Driver]) -> dict[str, DriverFingerprint]:
    """Each driver's fingerprint; one that raises is reported unhealthy, with the error."""
    out = {}
    for name, driver in drivers.items():
        try:
            out[name] = driver.fingerprint()
        except Exception as exc:  # noqa: BLE001 - a broken driver must not stop the agent
            out[name] = DriverFingerprint(
                health="unhealthy",
                health_description=f"fingerprint failed: {type(exc).__name__}: {exc}",
            )
    return out


def merge_drivers(
    attributes: Mapping[str, str], drivers: Mapping[str, DriverFingerprint]
) -> dict[str, str]:
    """Node attributes with healthy drivers' attributes and ``driver.<name> = "1"``."""
    merged = dict(attributes)
    for name, fp in sorted(drivers.items()):
        if fp.healthy:
            merged.update(fp.attributes)
            merged[f"driver.{name}"] = "1"
    return merged


def network_address(bind_addr: str) -> str:
    """Nomad's ``unique.network.ip-address``: the address the agent is bound to, or,
    when bound to every interface, the first non-loopback IPv4 address (else loopback)."""
    if bind_addr and bind_addr not in ("0.0.0.0", "::"):
        return bind_addr
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family == socket.AF_INET and not addr.address.startswith("127."):
                return str(addr.address)
    return "127.0.0.1"


def fingerprint(
    data_dir: str,
    drivers: Mapping[str, Driver] | None = None,
    *,
    cpu_total_compute: int = 0,
    memory_total_mb: int = 0,
    bind_addr: str = "",
) -> HostFingerprint:
    """Fingerprint the host (and ``drivers``). ``cpu_total_compute`` and
    ``memory_total_mb`` override detection, as Nomad's client config does."""
    attributes, total = host_attributes(data_dir, cpu_total_compute)
    attributes["unique.network.ip-address"] = network_address(bind_addr)
    memory_mb = memory_total_mb or int(attributes["memory.totalbytes"]) // MIB
    if memory_total_mb:
        attributes["memory.totalbytes"] = str(memory_total_mb * MIB)
    fps = driver_fingerprints(drivers or {})
    return HostFingerprint(
        attributes=merge_drivers(attributes, fps),
        cpu_mhz=total,
        memory_mb=memory_mb,
        disk_mb=int(attributes["unique.storage.bytesfree"]) // MIB,
        drivers=fps,
    )
