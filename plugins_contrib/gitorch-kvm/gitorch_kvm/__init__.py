"""gitorch-kvm: a gitorch device plugin exposing ``/dev/kvm`` (vendor ``linux``, type
``kvm``). Published as its own distribution; gitorch finds it through the entry point
``kvm = "gitorch_kvm"`` in the ``gitorch`` group and calls ``register_devices``.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitorch.plugins.device import DevicePlugin
from gitorch.plugins.hookspecs import hookimpl

from gitorch_kvm.plugin import KvmDevicePlugin

__all__ = ["KvmDevicePlugin", "register_devices"]


@hookimpl
def register_devices() -> Sequence[type[DevicePlugin]]:
    return [KvmDevicePlugin]
