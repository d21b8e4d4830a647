"""Host volume feasibility (Nomad's HostVolumeChecker).

A group's ``volume`` blocks of ``type = "host"`` name a ``source``: a node is feasible
only when its client declares a ``host_volume`` of that name, and a read-only host
volume only serves requests that are read-only too. The filter reason is Nomad's
``missing compatible host volumes``. Host volumes are per node, so the check is not
cached per node class.
"""

from __future__ import annotations

from collections.abc import Callable

from gitorch.core.model import Node, TaskGroup

MISSING_HOST_VOLUMES = "missing compatible host volumes"


def host_volume_check(group: TaskGroup) -> Callable[[Node], bool] | None:
    """A predicate for nodes that have every host volume the group asks for, or None
    when it asks for none."""
    wanted = [(v.source, v.read_only) for v in group.volumes.values() if v.type == "host"]
    if not wanted:
        return None

    def has_all(node: Node) -> bool:
        volumes = node.host_volumes
        for source, read_only in wanted:
            have = volumes.get(source)
            if have is None or (have.read_only and not read_only):
                return False
        return True

    return has_all
