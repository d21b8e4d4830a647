"""The client's device manager: fingerprints from every plugin (a broken one skipped,
logged once), which plugin owns which group, reservations merged into a task's config."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from gitorch.agent.devices import DeviceManager
from gitorch.core.model import AllocatedDevice
from gitorch.core.task import DeviceMount, DeviceSpec, TaskConfig
from gitorch.errors import DriverError
from gitorch.plugins.device import DevicePlugin, NodeDevice, NodeDeviceResource, Reservation


class Fake(DevicePlugin):
    """Two instances of ``acme/<kind>/x1``; reserve gives an env var and a node each."""

    name = "fake"

    def __init__(self, kind: str = "gpu", *, fail: str = "") -> None:
        super().__init__({})
        self.kind, self.fail = kind, fail
        self.reserved: list[list[str]] = []

    def fingerprint(self) -> list[NodeDeviceResource]:
        if self.fail:
            raise RuntimeError(self.fail)
        ids = [f"{self.kind}-0", f"{self.kind}-1"]
        instances = [NodeDevice(id=i) for i in ids]
        return [NodeDeviceResource(vendor="acme", type=self.kind, name="x1", instances=instances)]

    def reserve(self, device_ids: Sequence[str]) -> Reservation:
        ids = self.check_ids(device_ids, [f"{self.kind}-0", f"{self.kind}-1"])
        self.reserved.append(ids)
        return Reservation(
            envs={f"ACME_{self.kind.upper()}": ",".join(ids)},
            devices=[DeviceSpec(host_path=f"/dev/acme-{i}") for i in ids],
            mounts=[DeviceMount(host_path="/opt/acme", task_path="/opt/acme")],
        )

    def stats(self) -> dict[str, dict[str, float]]:
        if self.fail:
            raise RuntimeError(self.fail)
        return {f"{self.kind}-0": {"temp_c": 40.0}}


def cfg(*devices: AllocatedDevice) -> TaskConfig:
    return TaskConfig(
        alloc_id="a1",
        task_name="t",
        driver="raw_exec",
        env={"KEEP": "1"},
        task_dir="/x/t",
        alloc_dir="/x/alloc",
        log_dir="/x/alloc/logs",
        devices=list(devices),
    )


def assigned(kind: str, *ids: str) -> AllocatedDevice:
    return AllocatedDevice(vendor="acme", type=kind, name="x1", device_ids=list(ids))


def test_fingerprint_collects_groups_and_owners() -> None:
    dm = DeviceManager({"gpus": Fake("gpu"), "fpgas": Fake("fpga")})
    groups = dm.fingerprint()
    assert [g.id_string() for g in groups] == ["acme/gpu/x1", "acme/fpga/x1"]
    assert dm.owner("acme", "fpga", "x1") == "fpgas" and dm.owner("acme", "tpu", "x1") is None
    assert dm.errors == {}


def test_a_broken_plugin_is_skipped_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    dm = DeviceManager({"bad": Fake("tpu", fail="no bus"), "gpus": Fake("gpu")})
    with caplog.at_level(logging.ERROR, logger="gitorch.agent.devices"):
        for _ in range(3):
            assert [g.type for g in dm.fingerprint()] == ["gpu"]
    assert dm.errors == {"bad": "fingerprint raised RuntimeError: no bus"}
    assert len(caplog.records) == 1
    assert dm.stats() == {"gpus": {"gpu-0": {"temp_c": 40.0}}}


def test_a_group_claimed_twice_is_kept_by_the_first_plugin() -> None:
    dm = DeviceManager({"one": Fake("gpu"), "two": Fake("gpu")})
    assert len(dm.fingerprint()) == 1
    assert dm.owner("acme", "gpu", "x1") == "one"
    assert "already provided by one" in dm.errors["two"]


def test_reserve_asks_each_owner_once_and_merges() -> None:
    gpus, fpgas = Fake("gpu"), Fake("fpga")
    dm = DeviceManager({"gpus": gpus, "fpgas": fpgas})
    dm.fingerprint()
    out = dm.reserve(cfg(assigned("gpu", "gpu-1"), assigned("fpga", "fpga-0", "fpga-1")))
    assert gpus.reserved == [["gpu-1"]] and fpgas.reserved == [["fpga-0", "fpga-1"]]
    assert out.env == {"KEEP": "1", "ACME_GPU": "gpu-1", "ACME_FPGA": "fpga-0,fpga-1"}
    assert [s.host_path for s in out.device_specs] == [
        "/dev/acme-gpu-1",
        "/dev/acme-fpga-0",
        "/dev/acme-fpga-1",
    ]
    assert out.device_mounts == [DeviceMount(host_path="/opt/acme", task_path="/opt/acme")]


def test_a_task_without_devices_is_unchanged() -> None:
    task = cfg()
    assert DeviceManager().reserve(task) is task


def test_reserve_failures_name_the_task_and_device() -> None:
    dm = DeviceManager({"gpus": Fake("gpu")})
    dm.fingerprint()
    with pytest.raises(DriverError, match=r"task a1/t: no device plugin .* acme/tpu/x1"):
        dm.reserve(cfg(assigned("tpu", "tpu-0")))
    with pytest.raises(DriverError, match=r"task a1/t: device plugin gpus cannot reserve gpu-7"):
        dm.reserve(cfg(assigned("gpu", "gpu-7")))
