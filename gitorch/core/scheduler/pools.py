"""Node pools, as Nomad has them: every node is in one pool (``default`` unless its
client config says ``node_pool``); a job runs only on nodes of its ``node_pool``, and
the built-in ``all`` pool takes every node."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gitorch.core.model import Node
from gitorch.core.model.pool import NodePool

ALL = "all"
DEFAULT = "default"
BUILT_IN = {ALL: "Node pool with all nodes in the cluster.", DEFAULT: "Default node pool."}


def in_pool(pool: str) -> Callable[[Node], bool]:
    """Whether a node belongs to the job's ``node_pool``."""
    if pool == ALL:
        return lambda _node: True
    return lambda node: node.node_pool == pool


def pool_names(nodes: Iterable[Node]) -> list[str]:
    """The built-in pools, then every pool a node names, sorted (Nomad's list order)."""
    return sorted({*BUILT_IN, *(n.node_pool for n in nodes)})


def node_pools(nodes: Iterable[Node], prefix: str = "") -> list[NodePool]:
    """The pools ``/v1/node/pools`` lists, by name, those starting with ``prefix``."""
    return [
        NodePool(name=name, description=BUILT_IN.get(name, ""))
        for name in pool_names(nodes)
        if name.startswith(prefix)
    ]
