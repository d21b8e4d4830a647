"""``BucketMap``: a persistent map for a table that reaches millions of entries (the
allocation table), with few objects for the cyclic collector.

A persistent map (``immutables.Map``) of 1,000,000 allocations is about 630,000 trie
nodes, each one tracked by CPython's cyclic collector, so a full collection walked them
all and paused a server for longer than Raft's election timeout. A ``BucketMap`` spreads
its entries over at most ``BUCKETS`` plain dicts (by the key's hash) held in a persistent
map keyed by bucket number: a million entries are ~16,000 dicts and a few thousand trie
nodes. The dicts are never changed once the map that holds them is made: a change copies
the buckets it touches (about 60 entries each at a million, one or two in a small table)
and shares the rest, so a snapshot of a ``BucketMap`` is still one reference.

It is read like a ``Mapping``; ``set``/``delete`` make a new map, and ``mutate()`` gives
a ``BucketMutation`` for many changes at once (``finish()`` makes the new map), as
``immutables.Map`` does. Iteration order follows ``hash()``, which differs between
processes, as a persistent map's did: nothing may depend on it.
"""

from __future__ import annotations

from collections.abc import Hashable, ItemsView, Iterable, Iterator, Mapping, ValuesView
from typing import Generic, TypeVar, overload

from gitorch.core.pmap import PMap, pmap

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

BUCKETS = 1 << 14
"""How many buckets a map spreads its keys over: 16,384, so ~60 keys a bucket at 1,000,000
entries and ~120 at C2M's 2,000,000 (a bucket is copied on each change to it)."""
_MASK = BUCKETS - 1


def _slot(key: Hashable) -> int:
    return hash(key) & _MASK


class BucketMap(Mapping[K, V]):
    """An immutable map of keys spread over persistent buckets."""

    __slots__ = ("_buckets", "_len")

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        groups: dict[int, dict[K, V]] = {}
        for key, value in pairs:
            groups.setdefault(_slot(key), {})[key] = value
        self._buckets: PMap[int, dict[K, V]] = PMap(groups)
        self._len = sum(map(len, groups.values()))

    @classmethod
    def _of(cls, buckets: PMap[int, dict[K, V]], length: int) -> BucketMap[K, V]:
        made: BucketMap[K, V] = cls.__new__(cls)
        made._buckets, made._len = buckets, length
        return made

    def __getitem__(self, key: K) -> V:
        bucket = self._buckets.get(_slot(key))
        if bucket is None:
            raise KeyError(key)
        return bucket[key]

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: V | D, /) -> V | D: ...
    def get(self, key: K, default: object = None, /) -> object:
        bucket = self._buckets.get(_slot(key))
        return default if bucket is None else bucket.get(key, default)

    def __contains__(self, key: object) -> bool:
        bucket = self._buckets.get(_slot(key))
        return bucket is not None and key in bucket

    def __iter__(self) -> Iterator[K]:
        for bucket in self._buckets.values():
            yield from bucket

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"BucketMap({len(self)} entries)"

    def values(self) -> ValuesView[V]:
        return _Values(self)

    def items(self) -> ItemsView[K, V]:
        return _Items(self)

    def _buckets_iter(self) -> Iterator[dict[K, V]]:
        return iter(self._buckets.values())

    def set(self, key: K, value: V) -> BucketMap[K, V]:
        """A new map with ``key`` set to ``value``."""
        mut = self.mutate()
        mut[key] = value
        return mut.finish()

    def delete(self, key: K) -> BucketMap[K, V]:
        """A new map without ``key`` (``KeyError`` when it is absent)."""
        mut = self.mutate()
        del mut[key]
        return mut.finish()

    def mutate(self) -> BucketMutation[K, V]:
        return BucketMutation(self._buckets, self._len)


class _Values(ValuesView[V]):
    _mapping: BucketMap[object, V]

    def __iter__(self) -> Iterator[V]:
        for bucket in self._mapping._buckets_iter():
            yield from bucket.values()


class _Items(ItemsView[K, V]):
    _mapping: BucketMap[K, V]

    def __iter__(self) -> Iterator[tuple[K, V]]:
        for bucket in self._mapping._buckets_iter():
            yield from bucket.items()


class BucketMutation(Generic[K, V]):
    """Many changes to a ``BucketMap`` at once: each bucket touched is copied the first
    time and changed in place after that; ``finish()`` makes the new map."""

    __slots__ = ("_len", "_outer", "_owned")

    def __init__(self, buckets: PMap[int, dict[K, V]], length: int) -> None:
        self._outer = buckets.mutate()
        self._owned: set[int] = set()
        self._len = length

    def _own(self, slot: int) -> dict[K, V]:
        if slot in self._owned:
            return self._outer[slot]
        bucket = dict(self._outer.get(slot, ()))
        self._outer[slot] = bucket
        self._owned.add(slot)
        return bucket

    def __getitem__(self, key: K) -> V:
        return self._outer[_slot(key)][key]

    def get(self, key: K, default: V | None = None) -> V | None:
        bucket = self._outer.get(_slot(key))
        return default if bucket is None else bucket.get(key, default)

    def __contains__(self, key: K) -> bool:
        bucket = self._outer.get(_slot(key))
        return bucket is not None and key in bucket

    def __len__(self) -> int:
        return self._len

    def __setitem__(self, key: K, value: V) -> None:
        bucket = self._own(_slot(key))
        self._len += key not in bucket
        bucket[key] = value

    def __delitem__(self, key: K) -> None:
        slot = _slot(key)
        if key not in self._outer.get(slot, ()):
            raise KeyError(key)
        bucket = self._own(slot)
        del bucket[key]
        self._len -= 1
        if not bucket:
            del self._outer[slot]
            self._owned.discard(slot)

    def finish(self) -> BucketMap[K, V]:
        self._owned = set()  # the buckets are the new map's now: a later write must fail
        return BucketMap._of(self._outer.finish(), self._len)


def empty() -> BucketMap[K, V]:
    """An empty map."""
    return BucketMap._of(pmap(), 0)
