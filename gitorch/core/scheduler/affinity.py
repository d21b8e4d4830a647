"""Node affinity scoring, as Nomad's NodeAffinityIterator computes it.

A group's affinities are the job's, the group's and its tasks' ``affinity`` blocks.
A node's score is the sum of the weights of the affinities it matches over the sum of
the absolute weights: -1..1. A zero score is not a scorer (Nomad appends the score
only when it is not zero), so a node matching nothing is ranked on the other scorers.
"""

from __future__ import annotations

from collections.abc import Callable

from gitorch.core.model import Affinity, Constraint, Job, Node, TaskGroup
from gitorch.core.scheduler.feasible import compile_constraint

AFFINITY_LIMIT = 100  # the limit iterator scores max(count, 100) nodes with affinities


class NodeAffinity:
    """One group's affinities, compiled once per evaluation."""

    def __init__(self, job: Job, group: TaskGroup) -> None:
        found = [*job.affinities, *group.affinities]
        found += [a for task in group.tasks for a in task.affinities]
        self.total = float(sum(abs(a.weight) for a in found))
        self.checks: list[tuple[Callable[[Node], bool], int]] = [
            (compile_constraint(_as_constraint(a)), a.weight) for a in found
        ]

    @staticmethod
    def of(job: Job, group: TaskGroup) -> NodeAffinity | None:
        """The group's affinity scorer, or None when it has no affinity with a weight."""
        aff = NodeAffinity(job, group)
        return aff if aff.total > 0 else None

    def score(self, node: Node) -> float:
        """The node's normalised affinity score, -1..1."""
        return sum(w for check, w in self.checks if check(node)) / self.total


def _as_constraint(a: Affinity) -> Constraint:
    return Constraint(ltarget=a.ltarget, rtarget=a.rtarget, operand=a.operand)


def limit_for(group: TaskGroup, limit: int) -> int:
    """The limit iterator's size for a group with affinities (Nomad: max(count, 100))."""
    return max(group.count, AFFINITY_LIMIT, limit)
