"""The kvm device plugin: ``/dev/kvm`` as a schedulable device, so that jobs running
virtual machines (qemu, firecracker, cloud-hypervisor in a container) land on nodes
where hardware virtualisation works, and get the device node bound into the task.

Fingerprint: one device group ``linux/kvm/kvm`` with ``instances`` instances (default
one, ``kvm0``; every instance stands for the same ``/dev/kvm``, so ``instances = 4``
lets four tasks on the node use KVM at once). Nothing is found when the device node
does not exist (the plugin stays healthy: having no KVM is not a failure). An instance
is healthy when the node is a character device that opens read-write; the group's
attributes then carry the KVM API version (``KVM_GET_API_VERSION``, 12 on every Linux
since 2.6.22) and the most vCPUs a VM may have (``KVM_CHECK_EXTENSION`` of
``KVM_CAP_MAX_VCPUS``), which a job reads as ``${device.attr.api_version}``.

``reserve`` gives the task the device node (``DeviceSpec``, ``rwm``) and nothing else;
it does not open or lock it.

Plugin config::

    plugin "kvm" {
      config {
        device_path = "/dev/kvm"   # where the KVM device node is (tests point it elsewhere)
        instances   = 1            # how many tasks may hold KVM at once
      }
    }
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from gitorch.plugins.device import (
    DeviceHealth,
    DevicePlugin,
    DeviceSpec,
    NodeDevice,
    NodeDeviceResource,
    Reservation,
)
from gitorch.plugins.driver import Field

DEFAULT_PATH = "/dev/kvm"
VENDOR, TYPE, NAME = "linux", "kvm", "kvm"
KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
KVM_CHECK_EXTENSION = 0xAE03  # _IO(KVMIO, 0x03)
KVM_CAP_MAX_VCPUS = 66


def probe(path: str) -> tuple[str, dict[str, str]]:
    """("", attributes) when ``path`` is a KVM device that opens read-write, else
    (why not, {})."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}", {}
    if not stat.S_ISCHR(mode):
        return f"{path} is not a character device", {}
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"cannot open {path} read-write: {exc.strerror or exc}", {}
    attributes: dict[str, str] = {}
    try:
        attributes["api_version"] = str(fcntl.ioctl(fd, KVM_GET_API_VERSION))
        max_vcpus = fcntl.ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS)
        if max_vcpus > 0:
            attributes["max_vcpus"] = str(max_vcpus)
    except OSError:
        pass  # not KVM after all (or an odd kernel): usable, but no attributes
    finally:
        os.close(fd)
    return "", attributes


class KvmDevicePlugin(DevicePlugin):
    name: ClassVar[str] = "kvm"
    plugin_config_schema: ClassVar[Mapping[str, Field]] = {
        "device_path": Field("string", doc="the KVM device node (default /dev/kvm)"),
        "instances": Field("integer", doc="how many tasks may hold KVM at once (default 1)"),
    }

    def __init__(self, plugin_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(plugin_config)
        self.device_path = str(self.plugin_config.get("device_path") or DEFAULT_PATH)
        self.count = int(self.plugin_config.get("instances") or 1)

    @classmethod
    def validate_plugin_config(cls, config: Mapping[str, Any]) -> list[str]:
        problems = super().validate_plugin_config(config)
        count = config.get("instances")
        if isinstance(count, int) and not isinstance(count, bool) and count < 1:
            problems.append(f"plugin.kvm.config.instances: must be at least 1, got {count}")
        path = config.get("device_path")
        if isinstance(path, str) and not path.startswith("/"):
            problems.append(f"plugin.kvm.config.device_path: must be absolute, got {path!r}")
        return problems

    def instance_ids(self) -> list[str]:
        return [f"kvm{i}" for i in range(self.count)]

    def fingerprint(self) -> list[NodeDeviceResource]:
        if not os.path.lexists(self.device_path):
            return []
        problem, attributes = probe(self.device_path)
        instances = [
            NodeDevice(id=i, healthy=not problem, health_description=problem)
            for i in self.instance_ids()
        ]
        return [
            NodeDeviceResource(
                vendor=VENDOR, type=TYPE, name=NAME, instances=instances, attributes=attributes
            )
        ]

    def reserve(self, device_ids: Sequence[str]) -> Reservation:
        ids = self.check_ids(device_ids, self.instance_ids())
        if not ids:
            return Reservation()
        return Reservation(devices=[DeviceSpec(host_path=self.device_path, task_path=DEFAULT_PATH)])

    def health(self) -> DeviceHealth:
        if not os.path.lexists(self.device_path):
            return DeviceHealth(True, f"no {self.device_path}: this node has no KVM")
        problem, _ = probe(self.device_path)
        return DeviceHealth(True, problem or "Healthy")
