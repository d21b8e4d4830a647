"""The node drainer as a pure function: ``step(view, now) -> DrainStep``.

The leader's loop (``gitorch.server.drainer``) feeds it the draining nodes, their
allocations and the replacements the scheduler placed, and writes what it returns as
one Raft command per node.
"""

from gitorch.core.drain.planner import DrainStep, DrainView, NodeStep, step

__all__ = ["DrainStep", "DrainView", "NodeStep", "step"]
