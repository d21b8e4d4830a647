"""A task group's disconnect strategy, whichever way the jobspec spelled it (pure).

Shared by the state store (which allocations go ``unknown`` when their node goes
``disconnected``), the reconciler and the client agent (``stop_on_client_after``).
"""

from __future__ import annotations

from gitorch.core.model import TaskGroup
from gitorch.core.model.drain import DisconnectStrategy


def policy(group: TaskGroup) -> DisconnectStrategy | None:
    """The group's disconnect strategy: its ``disconnect`` block, else one made from
    ``max_client_disconnect`` / ``stop_after_client_disconnect`` (Nomad's upgrade
    path); None when allocations are simply lost with their node."""
    if group.disconnect is not None and (
        group.disconnect.lost_after > 0 or group.disconnect.stop_on_client_after > 0
    ):
        return group.disconnect
    if group.max_client_disconnect:
        return DisconnectStrategy(
            lost_after=group.max_client_disconnect,
            stop_on_client_after=group.stop_after_client_disconnect or 0,
        )
    if group.stop_after_client_disconnect:
        return DisconnectStrategy(stop_on_client_after=group.stop_after_client_disconnect)
    return None


def tolerates(group: TaskGroup | None) -> bool:
    """Does the group keep its allocations through a disconnect (``lost_after`` > 0)?"""
    p = policy(group) if group is not None else None
    return p is not None and p.lost_after > 0
