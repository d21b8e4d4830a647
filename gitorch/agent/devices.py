"""The client's side of device plugins (Nomad's client devicemanager).

``DeviceManager`` holds the agent's device plugins. ``fingerprint`` asks each for its
device groups and remembers which plugin owns which group (``vendor/type/name``); a
plugin that raises, returns something other than device groups, or claims a group
another plugin already owns is logged (once per distinct problem) and skipped, never
fatal. ``reserve`` turns the devices the scheduler assigned to a task
(``TaskConfig.devices``) into what the task needs: each owning plugin is asked once
for all of its instances, and its reservation's environment variables, device nodes
and mounts are added to the task's config.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import msgspec

from gitorch.core.model.node import NodeDeviceResource
from gitorch.core.task import TaskConfig
from gitorch.errors import DriverError
from gitorch.plugins.device import DevicePlugin, Reservation

log = logging.getLogger(__name__)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class DeviceManager:
    """The agent's device plugins, by name. Thread-safe."""

    def __init__(self, plugins: Mapping[str, DevicePlugin] | None = None) -> None:
        self.plugins = dict(plugins or {})
        self._lock = threading.Lock()
        self._owners: dict[str, str] = {}  # device group id -> plugin name
        self._problems: dict[str, str] = {}  # plugin name -> last problem logged
        self.errors: dict[str, str] = {}
        """Plugins skipped by the last fingerprint, and why."""

    def _problem(self, plugin: str, message: str) -> None:
        self.errors[plugin] = message
        if self._problems.get(plugin) != message:
            self._problems[plugin] = message
            log.error("device plugin %s skipped: %s", plugin, message)

    def fingerprint(self) -> list[NodeDeviceResource]:
        """Every plugin's device groups, in plugin order."""
        groups: list[NodeDeviceResource] = []
        owners: dict[str, str] = {}
        self.errors = {}
        for name, plugin in self.plugins.items():
            try:
                found = list(plugin.fingerprint())
            except Exception as exc:  # noqa: BLE001 - a broken plugin never stops the agent
                self._problem(name, f"fingerprint raised {_describe(exc)}")
                continue
            bad = [g for g in found if not isinstance(g, NodeDeviceResource)]
            if bad:
                self._problem(name, f"fingerprint returned {bad[0]!r}, not a NodeDeviceResource")
                continue
            taken = [g.id_string() for g in found if g.id_string() in owners]
            if taken:
                other = owners[taken[0]]
                self._problem(name, f"device group {taken[0]} is already provided by {other}")
                continue
            self._problems.pop(name, None)
            for group in found:
                owners[group.id_string()] = name
            groups += found
        with self._lock:
            self._owners = owners
        return groups

    def owner(self, vendor: str, type_: str, name: str) -> str | None:
        """The plugin that fingerprinted the group ``vendor/type/name``."""
        with self._lock:
            return self._owners.get(f"{vendor}/{type_}/{name}")

    def reserve(self, cfg: TaskConfig) -> TaskConfig:
        """``cfg`` with its devices' reservations applied (environment, device nodes,
        mounts); DriverError naming the task and the device when that cannot be done."""
        if not cfg.devices:
            return cfg
        wanted: dict[str, list[str]] = {}
        for dev in cfg.devices:
            group = f"{dev.vendor}/{dev.type}/{dev.name}"
            owner = self.owner(dev.vendor, dev.type, dev.name)
            if owner is None:
                raise DriverError(
                    f"task {cfg.id}: no device plugin on this node provides {group} "
                    f"(assigned {', '.join(dev.device_ids)})"
                )
            wanted.setdefault(owner, []).extend(dev.device_ids)
        env = dict(cfg.env)
        specs, mounts = list(cfg.device_specs), list(cfg.device_mounts)
        for plugin, ids in wanted.items():
            try:
                res = self.plugins[plugin].reserve(ids)
            except Exception as exc:  # noqa: BLE001 - reported as the task's start failure
                raise DriverError(
                    f"task {cfg.id}: device plugin {plugin} cannot reserve {', '.join(ids)}: {exc}"
                ) from exc
            if not isinstance(res, Reservation):
                raise DriverError(
                    f"task {cfg.id}: device plugin {plugin} returned {res!r}, not a Reservation"
                )
            env.update(res.envs)
            specs += [s for s in res.devices if s not in specs]
            mounts += [m for m in res.mounts if m not in mounts]
        return msgspec.structs.replace(cfg, env=env, device_specs=specs, device_mounts=mounts)

    def stats(self) -> dict[str, dict[str, dict[str, float]]]:
        """Each plugin's instance stats, by plugin name; a plugin that raises is left out."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for name, plugin in self.plugins.items():
            try:
                out[name] = plugin.stats()
            except Exception as exc:  # noqa: BLE001
                log.warning("device plugin %s: stats failed: %s", name, _describe(exc))
        return out


__all__ = ["DeviceManager"]
