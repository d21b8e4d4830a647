"""``IdSet``: the immutable set of IDs a secondary index keeps under one key (a node's
allocations, a job's allocations, evaluations or deployments).

Its IDs sit in a tuple of hash buckets (frozensets of about ``BUCKET`` IDs each, the
bucket count a power of two that doubles as the set grows). A change copies the buckets
it touches and the tuple, and shares the rest with the old set, so a snapshot keeps the
old set for free and adding one ID to a node's 200 costs about what a persistent map's
path copy did. What it saves is objects the cyclic collector has to walk: a persistent
map (``immutables.Map``) keeps about two trie nodes per three IDs, each one tracked by
the collector, which at 1,000,000 allocations made a full collection pause a server for
over a second (longer than Raft's election timeout); here it is one frozenset per
``BUCKET``/2 to ``BUCKET`` IDs. (A single frozenset per key, before, was copied whole on
every change: a node holding 200 allocations copied 200 IDs for each placement on it.)

Iteration order follows ``hash(str)``, which differs between processes, as a persistent
map's did: nothing may depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

BUCKET = 64
"""The most IDs a bucket holds on average before the set doubles its buckets."""


def _buckets_for(count: int) -> int:
    n = 1
    while count > BUCKET * n:
        n *= 2
    return n


class IdSet:
    """An immutable set of IDs: ``in``, ``len``, iteration, and ``with_ids``/``without``
    that return a new set sharing the untouched buckets."""

    __slots__ = ("_buckets", "_len")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        unique = ids if isinstance(ids, (set, frozenset, dict)) else dict.fromkeys(ids)
        n = _buckets_for(len(unique))
        groups: list[list[str]] = [[] for _ in range(n)]
        for item in unique:
            groups[hash(item) & (n - 1)].append(item)
        self._buckets: tuple[frozenset[str], ...] = tuple(map(frozenset, groups))
        self._len = len(unique)

    @classmethod
    def _of(cls, buckets: tuple[frozenset[str], ...], length: int) -> IdSet:
        made = cls.__new__(cls)
        made._buckets, made._len = buckets, length
        return made

    def __contains__(self, item: object) -> bool:
        return item in self._buckets[hash(item) & (len(self._buckets) - 1)]

    def __iter__(self) -> Iterator[str]:
        for bucket in self._buckets:
            yield from bucket

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdSet):
            return NotImplemented
        return self._len == other._len and all(item in other for item in self)

    __hash__ = None  # type: ignore[assignment]  # equal sets may be laid out differently

    def __repr__(self) -> str:
        return f"IdSet({sorted(self)!r})"

    def _grouped(self, ids: Iterable[str], present: bool) -> dict[int, set[str]]:
        """``ids`` that are (``present``) or are not in the set, by bucket."""
        buckets = self._buckets
        mask = len(buckets) - 1
        groups: dict[int, set[str]] = {}
        for item in ids:
            slot = hash(item) & mask
            if (item in buckets[slot]) is present:
                if slot in groups:
                    groups[slot].add(item)
                else:
                    groups[slot] = {item}
        return groups

    def _replaced(self, groups: dict[int, set[str]], length: int, add: bool) -> IdSet:
        """A set of ``length`` IDs whose buckets are these, with ``groups`` added to
        (``add``) or taken from theirs."""
        buckets = self._buckets
        if len(groups) == 1:  # the common case: one placement on a node
            ((slot, changed),) = groups.items()
            bucket = buckets[slot] | changed if add else buckets[slot] - changed
            return IdSet._of((*buckets[:slot], bucket, *buckets[slot + 1 :]), length)
        out = list(buckets)
        for slot, changed in groups.items():
            out[slot] = out[slot] | changed if add else out[slot] - changed
        return IdSet._of(tuple(out), length)

    def with_ids(self, more: Iterable[str]) -> IdSet:
        """This set with ``more`` added (itself when nothing is new)."""
        if isinstance(more, (set, frozenset, tuple, list)) and len(more) == 1:
            return self._with_one(next(iter(more)))
        groups = self._grouped(more, present=False)
        if not groups:
            return self
        length = self._len + sum(map(len, groups.values()))
        if length > BUCKET * len(self._buckets):  # grown past its buckets: spread it out
            return IdSet([*self, *(item for new in groups.values() for item in new)])
        return self._replaced(groups, length, add=True)

    def _with_one(self, item: str) -> IdSet:
        """``with_ids`` of one ID, the common case (a placement on a node), inlined."""
        buckets = self._buckets
        slot = hash(item) & (len(buckets) - 1)
        bucket = buckets[slot]
        if item in bucket:
            return self
        if self._len >= BUCKET * len(buckets):
            return IdSet([*self, item])
        made: IdSet = object.__new__(IdSet)
        made._buckets = (*buckets[:slot], bucket | {item}, *buckets[slot + 1 :])
        made._len = self._len + 1
        return made

    def without(self, gone: Iterable[str]) -> IdSet:
        """This set less ``gone`` (itself when none of them is in it)."""
        groups = self._grouped(gone, present=True)
        if not groups:
            return self
        length = self._len - sum(map(len, groups.values()))
        if length * 8 < BUCKET * len(self._buckets) and len(self._buckets) > 1:
            dead = set().union(*groups.values())  # shrunk well below its buckets
            return IdSet([item for item in self if item not in dead])
        return self._replaced(groups, length, add=False)


NO_IDS = IdSet()
