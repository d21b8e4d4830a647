"""Node pools as Nomad's ``/v1/node/pools`` lists them. gitorch has no pool objects
of its own yet: the built-in ``all`` and ``default`` pools and every pool a client's
``node_pool`` names are listed."""

from __future__ import annotations

from gitorch.core.model.base import Model


class NodePool(Model, frozen=True, kw_only=True):
    name: str
    description: str = ""
    meta: dict[str, str] | None = None
    create_index: int = 0
    modify_index: int = 0
