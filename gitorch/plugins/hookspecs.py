"""The one place gitorch's plugin hooks are declared (project name ``"gitorch"``).

A plugin is a module (or object) with functions decorated by ``hookimpl``, published
under the ``gitorch`` entry-point group of its distribution::

    # pyproject.toml
    [project.entry-points.gitorch]
    mydriver = "gitorch_mydriver"

    # gitorch_mydriver/__init__.py
    from gitorch.plugins.hookspecs import hookimpl

    @hookimpl
    def register_drivers():
        return [MyDriver]          # subclasses of gitorch.plugins.driver.Driver

    @hookimpl
    def register_devices():
        return [MyDevices]         # subclasses of gitorch.plugins.device.DevicePlugin

Provider plugins (``register_service_providers``, ``register_template_sources``,
``register_secret_providers``) are described in :mod:`gitorch.plugins.providers`.

gitorch's own drivers, device plugins and ``nomad`` providers are registered through these
same hooks (entry point ``builtin``). Hooks are few on purpose; each returns values, none
takes over the agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pluggy

from gitorch.plugins.device import DevicePlugin
from gitorch.plugins.driver import Driver
from gitorch.plugins.providers import SecretsProvider, ServiceProvider, TemplateSource

PROJECT = "gitorch"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_drivers() -> Sequence[type[Driver]]:  # type: ignore[empty-body]
    """Task driver classes this plugin provides.

    Each is a subclass of ``Driver`` with a unique ``name`` (the jobspec's
    ``driver = "..."``). The agent constructs each once with its plugin config block.
    A third-party driver with a built-in's name replaces the built-in (as in Nomad).
    """


@hookspec
def register_devices() -> Sequence[type[DevicePlugin]]:  # type: ignore[empty-body]
    """Device plugin classes this plugin provides (GPUs, USB, ...).

    Each is a subclass of ``DevicePlugin`` with a unique ``name`` (the agent config's
    ``plugin "<name>"`` block). The agent constructs each once with its plugin config
    block, puts their fingerprints into the node's resources (refreshed periodically)
    and asks the owning plugin to ``reserve`` the instances the scheduler gave a task.
    A third-party device plugin with a built-in's name replaces the built-in.
    """


@hookspec
def register_service_providers() -> Sequence[type[ServiceProvider]]:  # type: ignore[empty-body]
    """Service-registration providers (``service { provider = "<name>" }``).

    Each is a subclass of ``gitorch.plugins.providers.ServiceProvider`` with a unique
    ``name``; the agent builds each once with its agent config block (``config_block``)
    and hands it the registrations of the allocations' services of that provider, and
    the results of their checks. gitorch's own ``nomad`` provider comes through here.
    A job whose service names a provider no plugin provides is refused at validation.
    """


@hookspec
def register_template_sources() -> Sequence[type[TemplateSource]]:  # type: ignore[empty-body]
    """Template data sources (``gitorch.plugins.providers.TemplateSource``): the one
    named ``nomad`` answers ``nomadService(s)`` and ``nomadVar*`` (built in), the one
    named ``consul`` answers ``key``, ``keyOrDefault``, ``ls``, ``service`` and
    ``services``.
    """


@hookspec
def register_secret_providers() -> Sequence[type[SecretsProvider]]:  # type: ignore[empty-body]
    """Secrets providers (``gitorch.plugins.providers.SecretsProvider``): the one named
    ``vault`` serves ``vault`` blocks and the ``secret``/``secrets`` template functions.
    A job with a ``vault`` block is refused at validation when no plugin provides it.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``gitorch`` command line.

    ``cli`` is the top-level click group; call ``cli.add_command(...)`` on it.
    """
