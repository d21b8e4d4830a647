"""Spread: Nomad's SpreadIterator boosts, the raised limit, and a Hypothesis property
that targets are met within one allocation when capacity allows."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from gitorch.core.model import replace
from gitorch.core.model.job import Spread, SpreadTarget
from gitorch.core.scheduler.select import Selector
from gitorch.core.scheduler.spread import desired_counts, even_boost
from tests.unit.core.test_scheduler import Cluster, make_job, make_node

DC = "${node.datacenter}"


def cluster(per_dc: dict[str, int]) -> Cluster:
    nodes = [make_node(f"{dc}-{i:02}", datacenter=dc) for dc, n in per_dc.items() for i in range(n)]
    return Cluster(*nodes)


def spread(*targets: tuple[str, int], attribute: str = DC, weight: int = 50) -> Spread:
    found = [SpreadTarget(value=v, percent=p) for v, p in targets]
    return Spread(attribute=attribute, weight=weight, spread_target=found)


def per_dc(c: Cluster) -> Counter[str]:
    snap = c.store.snapshot()
    live = [a for a in snap.allocs.values() if not a.terminal()]
    return Counter(snap.nodes[a.node_id].datacenter for a in live)


def test_desired_counts_take_the_remainder_as_the_implicit_target() -> None:
    assert desired_counts(spread(("a", 50), ("b", 20)), 10) == {"a": 5.0, "b": 2.0, "*": 3.0}
    assert desired_counts(spread(("a", 60), ("b", 40)), 5) == {"a": 3.0, "b": 2.0}
    assert desired_counts(spread(), 5) == {}


def test_even_boost_follows_nomads_cases() -> None:
    assert even_boost({}, "a") == 0.0  # nothing placed yet
    assert even_boost({"a": 2, "b": 2}, "a") == -1.0  # even: maximum penalty
    assert even_boost({"a": 2, "b": 4}, "b") == -1.0  # (lo - current) / lo
    assert even_boost({"a": 2, "b": 4}, "a") == 1.0  # least used: (hi - current) / lo
    assert even_boost({"a": 2}, "c") == 1.0  # a value not used yet


def test_job_spread_with_targets_places_by_percentage() -> None:
    c = cluster({"east": 5, "west": 5})
    job = make_job(count=10, spreads=[spread(("east", 70), ("west", 30))])
    c.run(c.register(job))
    assert per_dc(c) == {"east": 7, "west": 3}
    plain = cluster({"east": 5, "west": 5})  # the control: anti-affinity alone gives 5/5
    plain.run(plain.register(replace(job, spreads=[])))
    assert per_dc(plain) == {"east": 5, "west": 5}


def test_group_spread_without_targets_spreads_evenly() -> None:
    c = cluster({"a": 4, "b": 1, "c": 2})
    job = make_job(count=6)
    group = replace(job.task_groups[0], spreads=[Spread(attribute=DC)])
    c.run(c.register(replace(job, task_groups=[group])))
    assert per_dc(c) == {"a": 2, "b": 2, "c": 2}


def test_values_without_a_target_take_the_remainder() -> None:
    c = cluster({"a": 3, "b": 3})
    job = make_job(count=4, spreads=[spread(("a", 75))])  # 3 in a, the "*" remainder 1
    c.run(c.register(job))
    assert per_dc(c) == {"a": 3, "b": 1}


def test_a_full_target_keeps_other_values_empty_while_it_has_room() -> None:
    c = cluster({"a": 2, "b": 2})
    c.run(c.register(make_job(count=5, spreads=[spread(("a", 100))])))
    assert per_dc(c) == {"a": 5}


def test_later_evaluations_count_the_allocations_already_running() -> None:
    c = cluster({"east": 3, "west": 3})
    job = make_job(count=2, spreads=[spread(("east", 50), ("west", 50))])
    c.run(c.register(job))
    c.run(c.register(replace(job, task_groups=[replace(job.task_groups[0], count=6)])))
    assert per_dc(c) == {"east": 3, "west": 3}


def test_limit_is_raised_to_max_of_count_and_100_with_spreads() -> None:
    c = cluster({"a": 300})
    snap = c.store.snapshot()
    job = make_job(count=3, spreads=[Spread(attribute=DC)])
    sel = Selector(snap, job, [], seed=1, stopping=set())
    assert sel.limit == 9
    assert sel.group(job, job.task_groups[0]).limit == 100
    big = make_job(count=150, spreads=[Spread(attribute=DC)])
    assert sel.group(big, big.task_groups[0]).limit == 150


@st.composite
def targets(draw: st.DrawFn) -> tuple[dict[str, int], dict[str, int], int]:
    """Datacenters with their node counts, target percentages summing to 100 in steps
    of ``step``, and a count for which every target is a whole number of allocations."""
    step = draw(st.sampled_from([10, 20, 25, 50]))
    n = draw(st.integers(2, 4))
    cuts = sorted(draw(st.lists(st.integers(0, 100 // step), min_size=n - 1, max_size=n - 1)))
    percents = [(b - a) * step for a, b in zip([0, *cuts], [*cuts, 100 // step], strict=True)]
    names = [f"dc{i}" for i in range(n)]
    nodes = {name: draw(st.integers(1, 5)) for name in names}
    count = draw(st.integers(1, max(1, 24 * step // 100))) * 100 // step
    return nodes, dict(zip(names, percents, strict=True)), count


@settings(max_examples=80, deadline=None)
@given(targets(), st.integers(0, 2**16))
def test_spread_targets_are_met_within_one_allocation(
    case: tuple[dict[str, int], dict[str, int], int], seed: int
) -> None:
    nodes, percents, count = case
    # capacity allows: every datacenter could hold the whole count (10 per node here)
    nodes = {dc: max(n, -(-count // 10)) for dc, n in nodes.items()}
    c = cluster(nodes)
    job = make_job(count=count, spreads=[spread(*percents.items())])
    plan = c.plan(c.register(job), seed=seed)
    snap = c.store.snapshot()
    seen = Counter(snap.nodes[p.node_id].datacenter for p in plan.placements)
    assert sum(seen.values()) == count
    for dc, percent in percents.items():
        assert abs(seen[dc] - percent / 100 * count) <= 1, (dc, seen, percents, count)


def test_an_untargeted_value_is_penalised_but_a_missing_attribute_is_not() -> None:
    c = Cluster(make_node("rack-b", meta={"rack": "b"}), make_node("none"))
    job = make_job(count=1, spreads=[spread(("a", 100), attribute="${meta.rack}")])
    for seed in range(5):
        plan = c.plan(c.register(job), seed=seed)
        assert [p.node_id for p in plan.placements] == ["none"]
