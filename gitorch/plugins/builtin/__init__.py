"""gitorch's built-in plugin: the raw_exec, exec, java, qemu, docker, containerd and mock
task drivers, the nvidia and usb device plugins, and the ``nomad`` service provider and
template source (:mod:`gitorch.agent.nomadproviders`).

It is registered through the same hooks as any third-party plugin (entry point
``builtin`` in the ``gitorch`` group); ``gitorch.plugins.manager`` loads it first.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitorch.plugins.builtin.containerd import ContainerdDriver
from gitorch.plugins.builtin.exec import ExecDriver
from gitorch.plugins.builtin.java import JavaDriver
from gitorch.plugins.builtin.mock import MockDriver
from gitorch.plugins.builtin.nvidia import NvidiaDevice
from gitorch.plugins.builtin.qemu import QemuDriver
from gitorch.plugins.builtin.raw_exec import RawExecDriver
from gitorch.plugins.builtin.usb import UsbDevicePlugin
from gitorch.plugins.device import DevicePlugin
from gitorch.plugins.driver import Driver
from gitorch.plugins.hookspecs import hookimpl
from gitorch.plugins.providers import ServiceProvider, TemplateSource

__all__ = [
    "ContainerdDriver",
    "ExecDriver",
    "JavaDriver",
    "MockDriver",
    "NvidiaDevice",
    "QemuDriver",
    "RawExecDriver",
    "UsbDevicePlugin",
]


@hookimpl
def register_drivers() -> Sequence[type[Driver]]:
    from gitorch.plugins.builtin.docker import DockerDriver  # undetected without the SDK

    return [
        RawExecDriver,
        ExecDriver,
        MockDriver,
        JavaDriver,
        QemuDriver,
        DockerDriver,
        ContainerdDriver,
    ]


@hookimpl
def register_devices() -> Sequence[type[DevicePlugin]]:
    return [NvidiaDevice, UsbDevicePlugin]


@hookimpl
def register_service_providers() -> Sequence[type[ServiceProvider]]:
    from gitorch.agent.nomadproviders import NomadServiceProvider

    return [NomadServiceProvider]


@hookimpl
def register_template_sources() -> Sequence[type[TemplateSource]]:
    from gitorch.agent.nomadproviders import NomadTemplateSource

    return [NomadTemplateSource]
