"""The device plugin base class, mirroring Nomad's DevicePlugin.

A device plugin tells the scheduler which devices a node has (GPUs, USB devices, FPGAs)
and, when the scheduler has given some of them to a task, what the task needs in order
to use them. It is constructed once per agent with its plugin configuration (the agent
config's ``plugin "nvidia" { config { ... } }`` block, as a dict). The client agent
then calls::

    fingerprint() -> [NodeDeviceResource]    at start, then periodically (every 30 s):
                                             a change re-registers the node
    reserve(device_ids) -> Reservation       before a task that was given devices starts
    stats() -> {instance ID: {stat: value}}  usage per instance (may be empty)
    health() -> DeviceHealth                 the plugin's own health
    close()                                  the agent stops

A fingerprint is a list of device *groups*: identical devices of one
``vendor/type/name`` (``nvidia/gpu/Tesla T4``) with their instances (each with an ID
the task receives, and whether it is healthy) and the group's attributes, which job
constraints read as ``${device.attr.<key>}``. A plugin that finds no hardware returns
an empty list and stays healthy; a plugin that raises is reported and skipped by the
agent, never fatal.

``reserve`` returns a :class:`Reservation`: environment variables, device nodes and
mounts the task driver gives the task. It must not change the host (no locks, no
files): the scheduler already guarantees an instance is given to one task at a time.
Unknown IDs raise ``DriverError`` naming them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from gitorch.core.model.node import NodeDevice, NodeDeviceResource
from gitorch.core.task import DeviceMount, DeviceSpec
from gitorch.errors import DriverError
from gitorch.plugins.driver import Field, validate_fields

__all__ = [
    "DeviceHealth",
    "DeviceMount",
    "DevicePlugin",
    "DeviceSpec",
    "Field",
    "NodeDevice",
    "NodeDeviceResource",
    "Reservation",
    "instance_ids",
]


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    """What a task needs to use the device instances reserved for it (Nomad's
    ContainerReservation): ``envs`` are added to its environment, ``devices`` are
    device nodes and ``mounts`` host paths the driver makes visible inside it."""

    envs: dict[str, str] = {}
    devices: list[DeviceSpec] = []
    mounts: list[DeviceMount] = []


@dataclass(frozen=True)
class DeviceHealth:
    """The plugin's own health; ``description`` says why (also when healthy with no
    devices: ``"no NVIDIA driver"``)."""

    healthy: bool = True
    description: str = ""


class DevicePlugin(ABC):
    """Base class of device plugins. Subclasses set ``name`` (the agent config's
    ``plugin "<name>"`` block) and implement ``fingerprint`` and ``reserve``."""

    name: ClassVar[str]
    plugin_config_schema: ClassVar[Mapping[str, Field]] = {}
    """Keys of the agent's ``plugin "<name>" { config {} }`` block."""

    def __init__(self, plugin_config: Mapping[str, Any] | None = None) -> None:
        self.plugin_config: dict[str, Any] = dict(plugin_config or {})

    @classmethod
    def validate_plugin_config(cls, config: Mapping[str, Any]) -> list[str]:
        """Problems of the agent's plugin config block, named ``plugin.<name>.config.<key>``."""
        return validate_fields(cls.plugin_config_schema, config, f"plugin.{cls.name}.config")

    @abstractmethod
    def fingerprint(self) -> list[NodeDeviceResource]:
        """The device groups on this node now, with healthy and unhealthy instances.
        Called periodically; must be quick and must not hold devices open."""

    @abstractmethod
    def reserve(self, device_ids: Sequence[str]) -> Reservation:
        """What a task needs to use these instances (IDs from the last fingerprint).
        Raise ``DriverError`` for an ID this plugin does not know."""

    def stats(self) -> dict[str, dict[str, float]]:
        """Usage of each instance, by instance ID (``{"GPU-...": {"memory_used_mib": ...}}``).
        Empty when the plugin has none to report."""
        return {}

    def health(self) -> DeviceHealth:
        """Whether the plugin works. Having no devices is not a failure."""
        return DeviceHealth()

    def close(self) -> None:
        """Release what the plugin holds (the agent is stopping)."""
        return None

    # -- helpers for subclasses ------------------------------------------------------

    def check_ids(self, device_ids: Iterable[str], known: Iterable[str]) -> list[str]:
        """``device_ids`` as a list; DriverError naming those not in ``known``."""
        wanted = list(device_ids)
        have = set(known)
        unknown = [i for i in wanted if i not in have]
        if unknown:
            raise DriverError(
                f"device plugin {self.name}: unknown device instance(s) "
                f"{', '.join(unknown)} (known: {', '.join(sorted(have)) or 'none'})"
            )
        return wanted


def instance_ids(groups: Iterable[NodeDeviceResource]) -> set[str]:
    """Every instance ID of ``groups``."""
    return {inst.id for group in groups for inst in group.instances}
