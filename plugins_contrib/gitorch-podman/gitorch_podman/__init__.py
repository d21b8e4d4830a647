"""gitorch-podman: a gitorch task driver that runs each task as a rootful podman
container. Published as its own distribution; gitorch finds it through the entry point
``podman = "gitorch_podman"`` in the ``gitorch`` group and calls ``register_drivers``.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitorch.plugins.driver import Driver
from gitorch.plugins.hookspecs import hookimpl

from gitorch_podman.driver import PodmanDriver

__all__ = ["PodmanDriver", "register_drivers"]


@hookimpl
def register_drivers() -> Sequence[type[Driver]]:
    return [PodmanDriver]
