"""A typed facade over pluggy's PluginManager: the only place that calls ``pm.hook``.

``load_plugins`` registers gitorch's built-in plugin (through the same hooks as third
parties, under its entry-point name ``builtin`` so the entry point does not register it
twice), then every ``gitorch`` entry point, then checks that no plugin implements a hook
that does not exist. A plugin that fails to import, to register or inside a hook is
recorded in ``errors`` and skipped: one broken plugin never stops the agent.

``GITORCH_DISABLE_PLUGINS=name1,name2`` (or ``disabled=``) blocks plugins by name.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from gitorch.plugins import hookspecs
from gitorch.plugins.device import DevicePlugin
from gitorch.plugins.driver import Driver
from gitorch.plugins.providers import (
    Provider,
    ProviderContext,
    SecretsProvider,
    ServiceProvider,
    TemplateSource,
)

BUILTIN = "builtin"
DISABLE_ENV = "GITORCH_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginError:
    """A plugin (or a driver it provides) that was skipped, and why."""

    name: str
    message: str


@dataclass(frozen=True)
class PluginInfo:
    """One row of ``gitorch plugin list``."""

    name: str
    dist: str | None
    version: str | None
    hooks: tuple[str, ...]
    drivers: tuple[str, ...]
    devices: tuple[str, ...]
    providers: tuple[str, ...] = ()
    """``kind:name`` of each provider: ``service:consul``, ``template:consul``, ..."""


PROVIDER_KINDS: dict[str, type[Provider]] = {
    "service_provider": ServiceProvider,
    "template_source": TemplateSource,
    "secret_provider": SecretsProvider,
}
"""Hook ``register_<kind>s`` -> the base class its providers subclass."""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _names(items: object, plugin: str, what: str) -> tuple[list[tuple[str, type[Any]]], str]:
    """(name, class) pairs of a register_* hook result, or a problem."""
    if not isinstance(items, Iterable) or isinstance(items, str | bytes):
        return [], f"register_{what}s returned {items!r}, not a list of classes"
    pairs: list[tuple[str, type[Any]]] = []
    for item in items:
        name = getattr(item, "name", None)
        if not isinstance(item, type) or not isinstance(name, str) or not name:
            return [], f"register_{what}s returned {item!r}: not a class with a name"
        if what == "driver" and not issubclass(item, Driver):
            return [], f"{item.__qualname__} is not a subclass of gitorch Driver"
        if what == "device" and not issubclass(item, DevicePlugin):
            return [], f"{item.__qualname__} is not a subclass of gitorch DevicePlugin"
        base = PROVIDER_KINDS.get(what)
        if base is not None and not issubclass(item, base):
            return [], f"{item.__qualname__} is not a subclass of gitorch {base.__name__}"
        pairs.append((name, item))
    return pairs, ""


class PluginManager:
    """gitorch's plugins: load them, list them, build their drivers and device plugins."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self.errors: list[PluginError] = []
        self._dists: dict[str, tuple[str, str]] = {}

    def _fail(self, name: str, message: str) -> None:
        error = PluginError(name, message)
        if error not in self.errors:
            self.errors.append(error)

    def register(self, plugin: object, name: str) -> bool:
        """Register one in-process plugin object; False (and an error) if it is invalid."""
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal
            self._fail(name, f"cannot register: {_describe(exc)}")
            return False
        return True

    def load_plugins(
        self,
        disabled: Collection[str] | None = None,
        *,
        builtins: bool = True,
        entrypoints: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Register the built-ins, then the ``gitorch`` entry points, minus
        ``disabled`` and the names in ``$GITORCH_DISABLE_PLUGINS``."""
        env = os.environ if environ is None else environ
        blocked = set(disabled or ())
        blocked.update(n.strip() for n in env.get(DISABLE_ENV, "").split(",") if n.strip())
        for name in blocked:
            self._pm.set_blocked(name)
        if builtins and not self._pm.is_blocked(BUILTIN):
            from gitorch.plugins import builtin

            if self.register(builtin, BUILTIN):
                self._dists[BUILTIN] = ("gitorch", _version("gitorch"))
        if entrypoints:
            self._load_entrypoints()
        self._check_pending()

    def _load_entrypoints(self) -> None:
        eps = importlib.metadata.entry_points(group=hookspecs.PROJECT)
        for name in sorted({ep.name for ep in eps}):
            if self._pm.get_plugin(name) is not None or self._pm.is_blocked(name):
                continue
            try:
                self._pm.load_setuptools_entrypoints(hookspecs.PROJECT, name=name)
            except Exception as exc:  # noqa: BLE001
                value = next((ep.value for ep in eps if ep.name == name), "?")
                self._fail(name, f"cannot load entry point {name} = {value!r}: {_describe(exc)}")
        for plugin, dist in self._pm.list_plugin_distinfo():
            pname = self._pm.get_name(plugin)
            if pname is not None:
                self._dists[pname] = (dist.project_name, dist.version)

    def _check_pending(self) -> None:
        """pluggy's check_pending, but unregistering the offenders instead of raising."""
        for hook_name, caller in list(vars(self._pm.hook).items()):
            if hook_name.startswith("_") or caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if not impl.optionalhook and self._pm.is_registered(impl.plugin):
                    self._fail(impl.plugin_name, f"implements unknown hook {hook_name!r}")
                    self._pm.unregister(impl.plugin)
        self._pm.check_pending()

    def _call(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call each implementation of a hook on its own: (plugin name, result)."""
        results = []
        caller = getattr(self._pm.hook, hook_name)
        for impl in caller.get_hookimpls():  # registration order
            if impl.hookwrapper or impl.wrapper:
                continue
            try:
                result = impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception as exc:  # noqa: BLE001
                self._fail(impl.plugin_name, f"hook {hook_name} raised {_describe(exc)}")
                continue
            results.append((impl.plugin_name, result))
        return results

    def _registered(self, what: str) -> list[tuple[str, str, type[Any]]]:
        """(plugin, name, class) for every driver/device, overrides resolved."""
        chosen: dict[str, tuple[str, type[Any]]] = {}
        for plugin, result in self._call(f"register_{what}s"):
            pairs, problem = _names(result, plugin, what)
            if problem:
                self._fail(plugin, problem)
            for name, cls in pairs:
                owner = chosen.get(name)
                if owner is not None and owner[0] != BUILTIN:
                    self._fail(plugin, f"{what} {name!r} is already provided by {owner[0]}")
                    continue
                chosen[name] = (plugin, cls)
        return [(plugin, name, cls) for name, (plugin, cls) in chosen.items()]

    def driver_classes(self) -> dict[str, type[Driver]]:
        """Driver classes by driver name."""
        return {name: cls for _, name, cls in self._registered("driver")}

    def drivers(
        self, plugin_configs: Mapping[str, Mapping[str, Any]] | None = None
    ) -> dict[str, Driver]:
        """One instance of each driver, built with its plugin config block (by driver
        name). A driver whose config is invalid or whose constructor fails is skipped
        and reported in ``errors``."""
        return self._build("driver", "driver", plugin_configs)

    def device_classes(self) -> dict[str, type[DevicePlugin]]:
        """Device plugin classes by name."""
        return {name: cls for _, name, cls in self._registered("device")}

    def devices(
        self, plugin_configs: Mapping[str, Mapping[str, Any]] | None = None
    ) -> dict[str, DevicePlugin]:
        """One instance of each device plugin, built with its plugin config block (by
        name). One whose config is invalid or whose constructor fails is skipped and
        reported in ``errors``."""
        return self._build("device", "device plugin", plugin_configs)

    def provider_names(self, kind: str) -> frozenset[str]:
        """The names of the providers of ``kind`` (a key of ``PROVIDER_KINDS``)."""
        return frozenset(name for _, name, _ in self._registered(kind))

    def providers(
        self,
        kind: str,
        blocks: Mapping[str, Mapping[str, Any]] | None = None,
        context: ProviderContext | None = None,
    ) -> dict[str, Any]:
        """One instance of each provider of ``kind``, built with its agent config block
        (``blocks[cls.config_block]``) and ``context``. One whose config is invalid or
        whose constructor fails is skipped and reported in ``errors``."""
        ctx = context or ProviderContext()
        configs = blocks or {}
        built: dict[str, Any] = {}
        label = kind.replace("_", " ")
        for plugin, name, cls in self._registered(kind):
            config = dict(configs.get(cls.config_block, {})) if cls.config_block else {}
            problems = cls.validate_plugin_config(config)
            if problems:
                self._fail(plugin, f"{label} {name}: {'; '.join(problems)}")
                continue
            try:
                built[name] = cls(config, ctx)
            except Exception as exc:  # noqa: BLE001
                self._fail(plugin, f"{label} {name}: constructor raised {_describe(exc)}")
        return built

    def _build(
        self, what: str, label: str, plugin_configs: Mapping[str, Mapping[str, Any]] | None
    ) -> dict[str, Any]:
        """Construct each registered class of kind ``what`` with its config block; one
        with an invalid config or a failing constructor is skipped and reported."""
        configs = plugin_configs or {}
        built: dict[str, Any] = {}
        for plugin, name, cls in self._registered(what):
            config = dict(configs.get(name, {}))
            problems = cls.validate_plugin_config(config)
            if problems:
                self._fail(plugin, f"{label} {name}: {'; '.join(problems)}")
                continue
            try:
                built[name] = cls(config)
            except Exception as exc:  # noqa: BLE001
                self._fail(plugin, f"{label} {name}: constructor raised {_describe(exc)}")
        return built

    def plugin_info(self) -> list[PluginInfo]:
        """Every registered plugin: name, distribution, version, hooks, what it provides."""
        drivers = self._by_plugin("driver")
        devices = self._by_plugin("device")
        provided: dict[str, list[str]] = {}
        for kind in PROVIDER_KINDS:
            for owner, names in self._by_plugin(kind).items():
                short = kind.split("_")[0]
                provided.setdefault(owner, []).extend(f"{short}:{n}" for n in names)
        rows = []
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None or name is None:
                continue
            dist, version = self._dists.get(name, (None, None))
            hooks = tuple(sorted(c.name for c in self._pm.get_hookcallers(plugin) or ()))
            rows.append(
                PluginInfo(
                    name=name,
                    dist=dist,
                    version=version,
                    hooks=hooks,
                    drivers=tuple(sorted(drivers.get(name, ()))),
                    devices=tuple(sorted(devices.get(name, ()))),
                    providers=tuple(sorted(provided.get(name, ()))),
                )
            )
        return sorted(rows, key=lambda r: (r.name != BUILTIN, r.name))

    def _by_plugin(self, what: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for plugin, name, _ in self._registered(what):
            out.setdefault(plugin, []).append(name)
        return out

    @property
    def pluggy(self) -> pluggy.PluginManager:
        """The underlying pluggy manager (for ``register_commands`` and tests)."""
        return self._pm

    def register_commands(self, cli: Any) -> None:
        """Let plugins add CLI subcommands to ``cli``."""
        self._call("register_commands", cli=cli)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def load(disabled: Collection[str] | None = None) -> PluginManager:
    """A PluginManager with every plugin loaded."""
    pm = PluginManager()
    pm.load_plugins(disabled)
    return pm


__all__ = ["PluginError", "PluginInfo", "PluginManager", "load"]
