"""Host volume mounts for one task: a task's ``volume_mount { volume, destination }``
names a group ``volume "x" { type = "host", source }``, whose source is a client
``host_volume`` on this node. The mount is read-only when the mount, the group volume or
the client's host volume says so.

Drivers with filesystem isolation (exec, java, docker) bind each mount at its
destination. A driver without isolation (raw_exec) sees the host's filesystem, so it
gets each volume's host path in ``NOMAD_HOST_VOLUME_<volume>`` instead (a gitorch name:
the destination cannot be bound without isolation).
"""

from __future__ import annotations

import os
import posixpath
import re

from gitorch.core.model import Job, Node, Task
from gitorch.core.task import HostMount, TaskConfig
from gitorch.errors import DriverError

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def host_mounts(job: Job, group_name: str, task: Task, node: Node) -> list[HostMount]:
    """The task's volume mounts, resolved against the node's host volumes."""
    group = job.group(group_name)
    if group is None or not task.volume_mounts:
        return []
    mounts: list[HostMount] = []
    for mount in task.volume_mounts:
        request = group.volumes.get(mount.volume)
        have = node.host_volumes.get(request.source) if request is not None else None
        read_only = mount.read_only or (request is not None and request.read_only)
        read_only = read_only or (have is not None and have.read_only)
        target = posixpath.normpath(posixpath.join("/", mount.destination))
        path = have.path if have is not None else ""  # refused by check_host_mounts
        mounts.append(
            HostMount(volume=mount.volume, host_path=path, task_path=target, read_only=read_only)
        )
    return mounts


def check_host_mounts(cfg: TaskConfig, node_id: str) -> None:
    """Refuse to start a task whose host volume is missing on this node (its client
    config changed since the placement, or the directory went away)."""
    for mount in cfg.mounts:
        if not mount.host_path:
            raise DriverError(
                f"task {cfg.id}: node {node_id} has no host volume for volume "
                f"{mount.volume!r}: add a client host_volume block for it"
            )
        if not os.path.isdir(mount.host_path):
            raise DriverError(
                f"task {cfg.id}: host volume {mount.volume!r} path {mount.host_path!r} on "
                f"node {node_id} is not a directory"
            )


def volume_env(mounts: list[HostMount]) -> dict[str, str]:
    """``NOMAD_HOST_VOLUME_<volume>`` -> host path, for drivers without isolation."""
    return {f"NOMAD_HOST_VOLUME_{_UNSAFE.sub('_', m.volume)}": m.host_path for m in mounts}
