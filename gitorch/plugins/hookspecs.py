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

gitorch's own drivers and device plugins are registered through these same hooks (entry point
``builtin``). Hooks are few on purpose; each returns values, none takes over the agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pluggy

from gitorch.plugins.device import DevicePlugin
from gitorch.plugins.driver import Driver

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
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``gitorch`` command line.

    ``cli`` is the top-level click group; call ``cli.add_command(...)`` on it.
    """
