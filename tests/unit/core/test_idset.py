"""The secondary indexes' ID set: a set that never changes in place, checked against
Python's own set through random adds and drops that grow and shrink it, and the reason
it exists: few objects for the cyclic collector."""

from __future__ import annotations

import gc
import random
import uuid

from gitorch.core.idset import NO_IDS, IdSet


def test_matches_a_set_through_random_growth_and_shrinking() -> None:
    rng = random.Random(7)
    model: set[str] = set()
    ids = NO_IDS
    history: list[tuple[IdSet, frozenset[str]]] = []
    pool = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(3_000)]
    for step in range(400):
        batch = rng.sample(pool, rng.randint(1, 60))
        if step < 200 or rng.random() < 0.3:
            ids = ids.with_ids(batch)
            model.update(batch)
        else:
            ids = ids.without(batch)
            model.difference_update(batch)
        history.append((ids, frozenset(model)))
        assert len(ids) == len(model) and set(ids) == model and bool(ids) == bool(model)
        probe = rng.choice(pool)
        assert (probe in ids) == (probe in model)
    for old, expected in history:  # every earlier version is as it was
        assert set(old) == expected and len(old) == len(expected)
    assert NO_IDS == IdSet() and not NO_IDS and len(NO_IDS) == 0


def test_no_change_returns_the_same_set() -> None:
    ids = IdSet(["a", "b"])
    assert ids.with_ids(["a"]) is ids
    assert ids.without(["zz"]) is ids
    assert ids.with_ids(["c"]) == IdSet(["a", "b", "c"])
    assert ids == IdSet(["b", "a"]) and ids != IdSet(["a"])


def test_a_million_ids_are_a_few_thousand_objects_for_the_collector() -> None:
    """1,000 sets of 200 IDs and a changed copy of each: ~9,000 tracked objects (buckets,
    tuples, sets), where persistent maps of ID -> None held ~130,000 trie nodes."""
    gc.collect()
    before = len(gc.get_objects())
    sets = [IdSet(str(uuid.uuid4()) for _ in range(200)) for _ in range(1_000)]
    grown = [s.with_ids([str(uuid.uuid4())]) for s in sets]
    gc.collect()
    tracked = len(gc.get_objects()) - before
    assert sum(map(len, grown)) == 201_000
    assert tracked < 20_000
