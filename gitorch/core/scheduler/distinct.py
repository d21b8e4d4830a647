"""``distinct_property``: at most ``limit`` allocations per value of a node property.

A job-level constraint counts every allocation of the job, a group-level one the
group's (Nomad's DistinctPropertyIterator); the limit is the constraint's value, 1
when empty. A node lacking the property is filtered. The reasons are Nomad's
ConstraintFiltered keys: ``missing property "X"`` and
``distinct_property: X=V used by N allocs``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gitorch.core.model import Constraint, Job, Node, TaskGroup
from gitorch.core.scheduler.properties import PropertyCounts

DISTINCT_PROPERTY = "distinct_property"

Counter = Callable[[str, str | None], PropertyCounts]


def property_limit(con: Constraint) -> int | None:
    """The constraint's allowed count (1 when empty), or None when it is not a
    positive integer (the jobspec decoder reports that)."""
    text = con.rtarget.strip()
    if not text:
        return 1
    return int(text) if text.isdigit() and int(text) > 0 else None


def _distinct(cons: Iterable[Constraint]) -> list[tuple[str, int]]:
    found = []
    for con in cons:
        if con.operand == DISTINCT_PROPERTY:
            limit = property_limit(con)
            found.append((con.ltarget, limit if limit is not None else 1))
    return found


class DistinctProperty:
    """One group's ``distinct_property`` constraints against the evaluation's counts."""

    def __init__(self, job: Job, group: TaskGroup, counter: Counter) -> None:
        self.checks = [(counter(t, None), n) for t, n in _distinct(job.constraints)]
        self.checks += [(counter(t, group.name), n) for t, n in _distinct(group.constraints)]

    @staticmethod
    def of(job: Job, group: TaskGroup, counter: Counter) -> DistinctProperty | None:
        found = DistinctProperty(job, group, counter)
        return found if found.checks else None

    def reason(self, node: Node) -> str:
        """Why one more allocation may not go on ``node`` ("" when it may)."""
        for counts, limit in self.checks:
            value, used = counts.used(node)
            if value is None:
                return f'missing property "{counts.target}"'
            if used >= limit:
                return f"{DISTINCT_PROPERTY}: {counts.target}={value} used by {used} allocs"
        return ""
