"""Allocation spreading, with Nomad's SpreadIterator boosts.

A group's spreads are its own ``spread`` blocks and the job's. For each, the selector
counts the group's live and proposed allocations per value of the spread attribute
(:class:`~gitorch.core.scheduler.properties.PropertyCounts`); a node's boost, for a
placement on it (``used`` counts that placement too), is:

* with targets: ``desired = percent / 100 * count`` for the node's value (or for the
  implicit ``"*"`` target, which takes the count the targets leave over), and the boost
  is ``(desired - used) / desired * weight / sum of weights``: positive below the target,
  negative above it; a value with no target and no remainder scores -1, a zero target
  ``-weight / sum of weights``;
* without targets (even spread): 0 before anything is placed; else, against the
  fewest (``lo``) and most (``hi``) allocations any value holds, ``(lo - current) / lo``
  when the node's value is not the least used, -1 when every value is used equally, and
  ``(hi - current) / lo`` for a least-used value.

Nodes missing the attribute are not boosted by that spread. The sum joins the mean of
scorers when it is not zero (Nomad's ``allocation-spread`` score).
"""

from __future__ import annotations

from collections.abc import Callable

from gitorch.core.model import Job, Node, TaskGroup
from gitorch.core.model.job import Spread
from gitorch.core.scheduler.properties import PropertyCounts

IMPLICIT_TARGET = "*"
SPREAD_LIMIT = 100  # the limit iterator scores max(count, 100) nodes with spreads

Counter = Callable[[str, str | None], PropertyCounts]


def desired_counts(spread: Spread, count: int) -> dict[str, float]:
    """Each target value's desired allocation count, with the ``"*"`` remainder."""
    desired = {t.value: t.percent / 100.0 * count for t in spread.spread_target}
    total = sum(desired.values())
    if 0 < total < count:
        desired[IMPLICIT_TARGET] = count - total
    return desired


def even_boost(use: dict[str, int], value: str) -> float:
    """Nomad's evenSpreadScoreBoost for a node whose attribute has ``value``."""
    if not use:
        return 0.0
    current = use.get(value, 0)
    lo, hi = min(use.values()), max(use.values())
    if current != lo:
        return (lo - current) / lo
    if lo == hi:
        return -1.0
    return (hi - current) / lo


class SpreadScore:
    """One group's spreads, compiled once per evaluation; scores change as it places."""

    def __init__(self, job: Job, group: TaskGroup, counter: Counter) -> None:
        spreads = [*group.spreads, *job.spreads]
        self.weights = sum(s.weight for s in spreads)
        info = {s.attribute: (s.weight, desired_counts(s, group.count)) for s in spreads}
        self.sets = [(counter(s.attribute, group.name), *info[s.attribute]) for s in spreads]

    @staticmethod
    def of(job: Job, group: TaskGroup, counter: Counter) -> SpreadScore | None:
        """The group's spread scorer, or None when neither it nor the job spreads."""
        if not group.spreads and not job.spreads:
            return None
        return SpreadScore(job, group, counter)

    def score(self, node: Node) -> float:
        """The node's total spread boost for one more placement on it."""
        total = 0.0
        for counts, weight, desired in self.sets:
            value, used = counts.used(node)
            if value is None:
                continue
            if not desired:
                total += even_boost(counts.counts, value)
                continue
            want = desired.get(value)
            if want is None:
                want = desired.get(IMPLICIT_TARGET)
            if want is None:
                total -= 1.0
                continue
            share = weight / self.weights if self.weights else 0.0
            if want == 0:
                total -= share
                continue
            total += (want - (used + 1)) / want * share
        return total


def spread_limit(group: TaskGroup, limit: int) -> int:
    """The limit iterator's size for a group with spreads (Nomad: max(count, 100))."""
    return max(group.count, SPREAD_LIMIT, limit)
