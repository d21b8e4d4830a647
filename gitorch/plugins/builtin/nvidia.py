"""The nvidia device plugin: NVIDIA GPUs through NVML (Nomad's ``nvidia-gpu`` plugin).

The only module that imports ``pynvml`` (PyPI package ``nvidia-ml-py``), and only when
it first fingerprints. Without the package, or without an NVIDIA driver (``nvmlInit``
fails), the node simply has no GPUs: the plugin reports zero devices, stays healthy,
and logs the reason once. It retries at each fingerprint, so a driver loaded later is
found.

GPUs of one model form one group ``nvidia/gpu/<model>``; each GPU's UUID is its
instance ID. Group attributes (constraints read them as ``${device.attr.<key>}``):
``memory`` (``"<MiB> MiB"``), ``compute_capability`` (``"8.0"``), ``driver_version``,
``cuda_driver_version``, ``pci_bus_ids`` (comma-separated, in instance order). A GPU
whose NVML queries fail is an unhealthy instance whose health description is the
error. ``reserve`` sets ``NVIDIA_VISIBLE_DEVICES`` to the reserved UUIDs (the NVIDIA
container toolkit and docker's ``--gpus`` read it); ``stats`` reports utilisation and
memory per GPU.

Plugin config: ``ignored_gpu_ids`` (UUIDs never offered), as in Nomad.

Not checked against real hardware by gitorch's tests; an in-memory twin of the NVML
module (``nvml=`` in the constructor) covers the logic.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from gitorch.plugins.device import (
    DeviceHealth,
    DevicePlugin,
    NodeDevice,
    NodeDeviceResource,
    Reservation,
    instance_ids,
)
from gitorch.plugins.driver import Field

log = logging.getLogger(__name__)

VENDOR = "nvidia"
TYPE = "gpu"
VISIBLE_DEVICES = "NVIDIA_VISIBLE_DEVICES"
MIB = 1 << 20


def _text(value: object) -> str:
    """NVML strings are ``bytes`` in old bindings, ``str`` in new ones."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class _Gpu:
    """What one fingerprint learned about one GPU."""

    def __init__(self, uuid: str, model: str) -> None:
        self.uuid, self.model = uuid, model
        self.error = ""
        self.memory_mib = 0
        self.compute = ""
        self.bus_id = ""


class NvidiaDevice(DevicePlugin):
    name: ClassVar[str] = "nvidia"
    plugin_config_schema: ClassVar[dict[str, Field]] = {
        "ignored_gpu_ids": Field("list(string)", doc="GPU UUIDs this node never offers"),
    }

    def __init__(self, plugin_config: Mapping[str, Any] | None = None, *, nvml: Any = None) -> None:
        """``nvml`` replaces the ``pynvml`` module (an in-memory twin, for tests)."""
        super().__init__(plugin_config)
        self._nvml = nvml
        self._ready = False
        self._unavailable = ""  # why there are no GPUs (logged once per reason)
        self._lock = threading.Lock()
        self._known: set[str] = set()
        self._ignored = set(self.plugin_config.get("ignored_gpu_ids", []))

    # -- NVML ------------------------------------------------------------------------

    def _init(self) -> Any:
        """The initialised NVML module, or None (with the reason logged once)."""
        if self._ready:
            return self._nvml
        try:
            if self._nvml is None:
                self._nvml = importlib.import_module("pynvml")
        except ImportError as exc:
            self._no_gpus(f"no NVIDIA library (install nvidia-ml-py): {exc}")
            return None
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as exc:
            self._no_gpus(f"no NVIDIA driver (nvmlInit failed: {_text(exc)})")
            return None
        self._ready, self._unavailable = True, ""
        return self._nvml

    def _no_gpus(self, reason: str) -> None:
        if reason != self._unavailable:
            log.info("nvidia device plugin: no GPUs on this node: %s", reason)
        self._unavailable = reason

    def close(self) -> None:
        """Shut NVML down (the agent is stopping)."""
        with self._lock:
            if self._ready:
                self._ready = False
                try:
                    self._nvml.nvmlShutdown()
                except self._nvml.NVMLError as exc:
                    log.debug("nvmlShutdown failed: %s", exc)

    # -- fingerprint -----------------------------------------------------------------

    def health(self) -> DeviceHealth:
        return DeviceHealth(healthy=True, description=self._unavailable or "NVML available")

    def fingerprint(self) -> list[NodeDeviceResource]:
        with self._lock:
            nvml = self._init()
            if nvml is None:
                self._known = set()
                return []
            driver = self._query(nvml, nvml.nvmlSystemGetDriverVersion)
            cuda = self._query(nvml, nvml.nvmlSystemGetCudaDriverVersion)
            gpus = [g for g in self._gpus(nvml) if g.uuid not in self._ignored]
            groups = _group(gpus, driver=driver, cuda=_cuda_version(cuda))
            self._known = instance_ids(groups)
            return groups

    def _query(self, nvml: Any, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except nvml.NVMLError as exc:
            log.warning("nvidia device plugin: %s failed: %s", call.__name__, _text(exc))
            return None

    def _gpus(self, nvml: Any) -> list[_Gpu]:
        count = self._query(nvml, nvml.nvmlDeviceGetCount) or 0
        gpus = []
        for index in range(count):
            try:
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            except nvml.NVMLError as exc:  # no UUID, no instance to report
                log.warning("nvidia device plugin: GPU %d cannot be identified: %s", index, exc)
                continue
            try:
                model = _text(nvml.nvmlDeviceGetName(handle))
            except nvml.NVMLError:
                model = "unknown"
            gpus.append(_probe(nvml, handle, _Gpu(uuid, model)))
        return gpus

    # -- reserve, stats --------------------------------------------------------------

    def reserve(self, device_ids: Sequence[str]) -> Reservation:
        with self._lock:
            ids = self.check_ids(device_ids, self._known)
        return Reservation(envs={VISIBLE_DEVICES: ",".join(ids)})

    def stats(self) -> dict[str, dict[str, float]]:
        with self._lock:
            if not self._ready or not self._known:
                return {}
            nvml = self._nvml
            out: dict[str, dict[str, float]] = {}
            for uuid in sorted(self._known):
                try:
                    handle = nvml.nvmlDeviceGetHandleByUUID(uuid)
                    util = nvml.nvmlDeviceGetUtilizationRates(handle)
                    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                except nvml.NVMLError as exc:
                    log.debug("nvidia device plugin: no stats for %s: %s", uuid, exc)
                    continue
                out[uuid] = {
                    "gpu_utilization_percent": float(util.gpu),
                    "memory_utilization_percent": float(util.memory),
                    "memory_used_mib": memory.used / MIB,
                    "memory_total_mib": memory.total / MIB,
                }
            return out


def _probe(nvml: Any, handle: Any, gpu: _Gpu) -> _Gpu:
    """Query the GPU; the first NVML error makes it unhealthy, with that error."""
    try:
        gpu.memory_mib = int(nvml.nvmlDeviceGetMemoryInfo(handle).total) // MIB
        major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
        gpu.compute = f"{major}.{minor}"
        gpu.bus_id = _text(nvml.nvmlDeviceGetPciInfo(handle).busId)
        nvml.nvmlDeviceGetUtilizationRates(handle)
    except nvml.NVMLError as exc:
        gpu.error = f"NVML query failed: {_text(exc)}"
    return gpu


def _cuda_version(version: object) -> str:
    """NVML's CUDA driver version integer (12040) as ``"12.4"``."""
    if not isinstance(version, int) or version <= 0:
        return ""
    return f"{version // 1000}.{version % 1000 // 10}"


def _group(gpus: list[_Gpu], *, driver: object, cuda: str) -> list[NodeDeviceResource]:
    """One device group per model, in the order GPUs were found; attributes from the
    group's first healthy GPU."""
    by_model: dict[str, list[_Gpu]] = {}
    for gpu in gpus:
        by_model.setdefault(gpu.model, []).append(gpu)
    groups = []
    for model, members in by_model.items():
        healthy = [g for g in members if not g.error]
        first = healthy[0] if healthy else None
        attributes = {
            "memory": f"{first.memory_mib} MiB" if first else "",
            "compute_capability": first.compute if first else "",
            "driver_version": _text(driver) if driver is not None else "",
            "cuda_driver_version": cuda,
            "pci_bus_ids": ",".join(g.bus_id for g in members if g.bus_id),
        }
        instances = [
            NodeDevice(id=g.uuid, healthy=not g.error, health_description=g.error) for g in members
        ]
        groups.append(
            NodeDeviceResource(
                vendor=VENDOR,
                type=TYPE,
                name=model,
                instances=instances,
                attributes={k: v for k, v in attributes.items() if v},
            )
        )
    return groups


__all__ = ["VISIBLE_DEVICES", "NvidiaDevice"]
