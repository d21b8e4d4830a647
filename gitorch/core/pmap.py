"""Persistent maps: the one import of ``immutables`` (a hash array mapped trie).

The state store's tables are persistent maps, so a snapshot is a handful of references
(O(1) at any table size) and a change costs O(log n) with structure shared between
versions. ``PMap`` is read like any ``Mapping``; a change makes a new map:
``m.set(k, v)``, ``m.delete(k)``, or, for many changes at once, ``edit(m)``.
"""

from __future__ import annotations

from typing import TypeVar

from immutables import Map

K = TypeVar("K")
V = TypeVar("V")

PMap = Map
"""The persistent map type (``immutables.Map``): a read-only ``Mapping`` with ``set``,
``delete`` and ``mutate``."""


def pmap() -> Map[K, V]:
    """An empty persistent map."""
    return Map()


def without(m: Map[K, V], key: K) -> Map[K, V]:
    """``m`` less ``key`` (the same map when ``key`` is absent)."""
    return m.delete(key) if key in m else m
