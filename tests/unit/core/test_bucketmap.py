"""The allocation table's persistent map: checked against a dict through random changes
(single and batched), every earlier version kept as it was, and the reason it exists:
few objects for the cyclic collector."""

from __future__ import annotations

import gc
import random

import pytest

from gitorch.core.bucketmap import BucketMap, empty


def test_matches_a_dict_and_keeps_every_version() -> None:
    rng = random.Random(3)
    model: dict[str, int] = {}
    table: BucketMap[str, int] = empty()
    history: list[tuple[BucketMap[str, int], dict[str, int]]] = []
    keys = [f"alloc-{i}" for i in range(5_000)]
    for step in range(300):
        if step % 3 == 0:  # one change through set/delete
            key = rng.choice(keys)
            if key in model and rng.random() < 0.4:
                table = table.delete(key)
                del model[key]
            else:
                table = table.set(key, step)
                model[key] = step
        else:  # a batch through a mutation, reading its own writes
            mut = table.mutate()
            for key in rng.sample(keys, 80):
                if key in model and rng.random() < 0.3:
                    del mut[key]
                    del model[key]
                    assert key not in mut
                else:
                    mut[key] = step
                    model[key] = step
                    assert mut[key] == step and mut.get(key) == step
            assert len(mut) == len(model)
            table = mut.finish()
        history.append((table, dict(model)))
        assert len(table) == len(model) and dict(table.items()) == model
    for old, expected in history:
        assert dict(old) == expected and sorted(old.values()) == sorted(expected.values())
    probe = keys[0]
    assert table.get(probe, -1) == model.get(probe, -1) and (probe in table) == (probe in model)


def test_missing_keys_and_finished_mutations() -> None:
    table = BucketMap({"a": 1})
    with pytest.raises(KeyError):
        table["b"]
    with pytest.raises(KeyError):
        table.delete("b")
    mut = table.mutate()
    mut["b"] = 2
    done = mut.finish()
    with pytest.raises(ValueError):  # a finished mutation cannot change the map it made
        mut["b"] = 3
    assert dict(done) == {"a": 1, "b": 2} and dict(table) == {"a": 1}
    assert table == {"a": 1} and done != table


def test_a_large_table_is_few_objects_for_the_collector() -> None:
    """200,000 entries: ~12,000 buckets and their trie nodes, where a persistent map of
    the same entries was ~51,000 trie nodes (and ~630,000 at 1,000,000 entries)."""
    gc.collect()
    before = len(gc.get_objects())
    table = BucketMap((f"alloc-{i}", (i,)) for i in range(200_000))
    gc.collect()
    assert len(table) == 200_000
    assert len(gc.get_objects()) - before < 20_000
