"""The nvidia device plugin: on this machine (no GPU) it reports no devices and stays
healthy; against an in-memory twin of NVML it fingerprints, reserves and reports stats.

gitorch's tests never ran this plugin against a real NVIDIA driver."""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from gitorch.errors import DriverError
from gitorch.plugins.builtin.nvidia import VISIBLE_DEVICES, NvidiaDevice

MIB = 1 << 20


class FakeNVMLError(Exception):
    pass


class FakeNvml:
    """The part of pynvml the plugin uses, over an in-memory list of GPUs."""

    NVMLError = FakeNVMLError

    def __init__(self, gpus: list[dict[str, Any]], *, init_error: str = "") -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.inits = 0
        self.shutdowns = 0

    def nvmlInit(self) -> None:
        self.inits += 1
        if self.init_error:
            raise FakeNVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        return self.gpus[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> dict[str, Any]:
        for gpu in self.gpus:
            if gpu["uuid"] == uuid:
                return gpu
        raise FakeNVMLError("Not Found")

    def _ok(self, gpu: dict[str, Any]) -> dict[str, Any]:
        if gpu.get("broken"):
            raise FakeNVMLError(gpu["broken"])
        return gpu

    def nvmlDeviceGetUUID(self, gpu: dict[str, Any]) -> bytes:
        return str(gpu["uuid"]).encode()  # old bindings return bytes

    def nvmlDeviceGetName(self, gpu: dict[str, Any]) -> str:
        return str(gpu["name"])

    def nvmlDeviceGetMemoryInfo(self, gpu: dict[str, Any]) -> SimpleNamespace:
        g = self._ok(gpu)
        return SimpleNamespace(total=g["mib"] * MIB, used=g["used_mib"] * MIB, free=0)

    def nvmlDeviceGetCudaComputeCapability(self, gpu: dict[str, Any]) -> tuple[int, int]:
        return self._ok(gpu)["cc"]  # type: ignore[no-any-return]

    def nvmlDeviceGetPciInfo(self, gpu: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(busId=self._ok(gpu)["bus"])

    def nvmlDeviceGetUtilizationRates(self, gpu: dict[str, Any]) -> SimpleNamespace:
        g = self._ok(gpu)
        return SimpleNamespace(gpu=g["util"], memory=g["mem_util"])


def gpu(uuid: str, bus: str, **extra: Any) -> dict[str, Any]:
    base = {
        "uuid": uuid,
        "name": "NVIDIA A100-SXM4-80GB",
        "mib": 81920,
        "used_mib": 1024,
        "cc": (8, 0),
        "bus": bus,
        "util": 37,
        "mem_util": 5,
    }
    return base | extra


@pytest.fixture
def twin() -> FakeNvml:
    return FakeNvml(
        [
            gpu("GPU-aaaa", "00000000:17:00.0"),
            gpu("GPU-bbbb", "00000000:65:00.0", broken="GPU is lost"),
        ]
    )


# -- this machine: no GPU ------------------------------------------------------------


def test_no_gpu_here_means_no_devices_and_healthy() -> None:
    plugin = NvidiaDevice()
    assert plugin.fingerprint() == []
    assert plugin.fingerprint() == []  # and again, retrying init quietly
    assert plugin.health().healthy
    assert plugin.health().description.startswith(("no NVIDIA library", "no NVIDIA driver"))
    assert plugin.stats() == {}
    with pytest.raises(DriverError, match="unknown device instance"):
        plugin.reserve(["GPU-aaaa"])
    plugin.close()


def test_without_the_library_no_devices_healthy_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    plugin = NvidiaDevice()
    with caplog.at_level(logging.INFO, logger="gitorch.plugins.builtin.nvidia"):
        assert plugin.fingerprint() == []
        assert plugin.fingerprint() == []
    assert plugin.health().healthy
    assert "no NVIDIA library" in plugin.health().description
    assert len([r for r in caplog.records if "no GPUs" in r.getMessage()]) == 1


def test_without_a_driver_no_devices_healthy_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nvml = FakeNvml([], init_error="Driver Not Loaded")
    plugin = NvidiaDevice(nvml=nvml)
    with caplog.at_level(logging.INFO, logger="gitorch.plugins.builtin.nvidia"):
        for _ in range(3):
            assert plugin.fingerprint() == []
    assert nvml.inits == 3  # a driver loaded later is found
    health = plugin.health()
    assert health.healthy and "Driver Not Loaded" in health.description
    assert len([r for r in caplog.records if "no GPUs" in r.getMessage()]) == 1
    nvml.init_error = ""
    assert plugin.fingerprint() == []  # initialised now; still no GPUs
    assert plugin.health().description == "NVML available"


# -- the in-memory twin --------------------------------------------------------------


def test_two_gpus_one_unhealthy_form_one_group(twin: FakeNvml) -> None:
    plugin = NvidiaDevice(nvml=twin)
    [group] = plugin.fingerprint()
    assert (group.vendor, group.type, group.name) == ("nvidia", "gpu", "NVIDIA A100-SXM4-80GB")
    assert group.id_string() == "nvidia/gpu/NVIDIA A100-SXM4-80GB"
    good, bad = group.instances
    assert (good.id, good.healthy, good.health_description) == ("GPU-aaaa", True, "")
    assert (bad.id, bad.healthy) == ("GPU-bbbb", False)
    assert "GPU is lost" in bad.health_description
    assert group.attributes == {
        "memory": "81920 MiB",
        "compute_capability": "8.0",
        "driver_version": "550.54.15",
        "cuda_driver_version": "12.4",
        "pci_bus_ids": "00000000:17:00.0",
    }
    assert plugin.health().healthy


def test_models_are_grouped_separately_and_ignored_ids_left_out(twin: FakeNvml) -> None:
    twin.gpus.append(gpu("GPU-cccc", "00000000:b3:00.0", name="Tesla T4", mib=15360, cc=(7, 5)))
    twin.gpus.append(gpu("GPU-dddd", "00000000:ca:00.0", name="Tesla T4", mib=15360, cc=(7, 5)))
    plugin = NvidiaDevice({"ignored_gpu_ids": ["GPU-dddd"]}, nvml=twin)
    groups = plugin.fingerprint()
    assert [g.name for g in groups] == ["NVIDIA A100-SXM4-80GB", "Tesla T4"]
    t4 = groups[1]
    assert [i.id for i in t4.instances] == ["GPU-cccc"]
    assert t4.attributes["memory"] == "15360 MiB"
    assert t4.attributes["compute_capability"] == "7.5"
    with pytest.raises(DriverError, match="GPU-dddd"):
        plugin.reserve(["GPU-dddd"])


def test_reserve_sets_visible_devices_to_the_uuids(twin: FakeNvml) -> None:
    plugin = NvidiaDevice(nvml=twin)
    plugin.fingerprint()
    res = plugin.reserve(["GPU-bbbb", "GPU-aaaa"])
    assert res.envs == {VISIBLE_DEVICES: "GPU-bbbb,GPU-aaaa"}
    assert res.devices == [] and res.mounts == []
    with pytest.raises(DriverError, match="GPU-zzzz"):
        plugin.reserve(["GPU-aaaa", "GPU-zzzz"])


def test_stats_per_gpu_skip_the_broken_one(twin: FakeNvml) -> None:
    plugin = NvidiaDevice(nvml=twin)
    plugin.fingerprint()
    assert plugin.stats() == {
        "GPU-aaaa": {
            "gpu_utilization_percent": 37.0,
            "memory_utilization_percent": 5.0,
            "memory_used_mib": 1024.0,
            "memory_total_mib": 81920.0,
        }
    }


def test_a_gpu_that_cannot_be_identified_is_skipped(twin: FakeNvml) -> None:
    class NoUuid(FakeNvml):
        def nvmlDeviceGetUUID(self, gpu: dict[str, Any]) -> bytes:
            if gpu["uuid"] == "GPU-bbbb":
                raise FakeNVMLError("Unknown Error")
            return super().nvmlDeviceGetUUID(gpu)

    plugin = NvidiaDevice(nvml=NoUuid(twin.gpus))
    [group] = plugin.fingerprint()
    assert [i.id for i in group.instances] == ["GPU-aaaa"]


def test_close_shuts_nvml_down_once(twin: FakeNvml) -> None:
    plugin = NvidiaDevice(nvml=twin)
    plugin.fingerprint()
    plugin.close()
    plugin.close()
    assert twin.shutdowns == 1
