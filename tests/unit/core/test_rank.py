"""Resource fit and Nomad's binpack, anti-affinity and reschedule-penalty scores."""

from __future__ import annotations

import math

import pytest

from gitorch.core.commands import ApplyPlan, RegisterJob, RegisterNode
from gitorch.core.model import (
    Allocation,
    DriverInfo,
    Job,
    Node,
    NodeCpu,
    NodeDisk,
    NodeMemory,
    NodeResources,
    Placement,
    Plan,
    Resources,
    Task,
    TaskGroup,
    replace,
)
from gitorch.core.scheduler.rank import (
    anti_affinity,
    binpack,
    capacity,
    exhausted,
    final_score,
    free,
)
from gitorch.core.scheduler.select import Selector
from gitorch.core.state import StateStore


def node(node_id: str, cpu: int = 1000, mem: int = 1000, disk: int = 1000) -> Node:
    return Node(
        id=node_id,
        status="ready",
        node_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=cpu),
            memory=NodeMemory(memory_mb=mem),
            disk=NodeDisk(disk_mb=disk),
        ),
        reserved_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=100), memory=NodeMemory(memory_mb=50)
        ),
        drivers={"exec": DriverInfo(detected=True, healthy=True)},
    )


def alloc(alloc_id: str, cpu: int, mem: int, **kw: object) -> Allocation:
    base = Allocation(id=alloc_id, name=f"j.g[{alloc_id}]")
    return replace(base, resources=Resources(cpu=cpu, memory_mb=mem), **kw)


def test_capacity_subtracts_the_reservation() -> None:
    assert capacity(node("a")) == [900, 950, 1000]


def test_exhausted_names_the_first_short_dimension_in_nomads_order() -> None:
    assert exhausted([10, 10, 10], [10, 10, 10]) == ""
    assert exhausted([9, 5, 5], [10, 10, 10]) == "cpu"
    assert exhausted([10, 5, 5], [10, 10, 10]) == "memory"
    assert exhausted([10, 10, 5], [10, 10, 10]) == "disk"


def test_binpack_is_nomads_formula_normalised() -> None:
    expected = (20 - (10**0.5 + 10**0.25)) / 18
    assert binpack(1000, 1000, 500, 250) == pytest.approx(expected)
    assert binpack(1000, 1000, 0, 0) == pytest.approx(1.0)  # full: 20 - 2 = 18, the maximum
    assert binpack(1000, 1000, 1000, 1000) == 0.0  # empty: 20 - 20
    assert binpack(0, 0, 0, 0) == pytest.approx(1.0)  # no capacity counts as full
    assert math.isclose(binpack(100, 100, 90, 10), binpack(100, 100, 10, 90))


def test_anti_affinity_and_penalty_average_into_the_final_score() -> None:
    assert anti_affinity(1, 4) == -0.5
    assert final_score(0.8, 0, 4, False) == 0.8
    assert final_score(0.8, 1, 4, False) == pytest.approx((0.8 - 0.5) / 2)
    assert final_score(0.8, 0, 4, True) == pytest.approx((0.8 - 1.0) / 2)


def cluster() -> StateStore:
    store = StateStore()
    for n in (node("a"), node("b")):
        store.apply(RegisterNode(now=1, node=n))
    group = TaskGroup(
        name="g", count=1, tasks=[Task(name="t", driver="exec", resources=Resources(cpu=100))]
    )
    store.apply(RegisterJob(now=1, job=Job(id="j", task_groups=[group])))
    other = TaskGroup(
        name="o", count=1, tasks=[Task(name="t", driver="exec", resources=Resources(cpu=600))]
    )
    store.apply(RegisterJob(now=1, job=Job(id="other", task_groups=[other])))
    place = Placement(id="x", task_group="o", index=0, node_id="b")
    store.apply(ApplyPlan(now=2, plan=Plan(eval_id="e0", job_id="other", placements=[place])))
    return store


def test_free_counts_what_live_allocations_hold() -> None:
    snap = cluster().snapshot()
    assert free(snap, snap.nodes["b"]) == [300, 650, 1000]
    assert free(snap, snap.nodes["b"], stopping={"x"}) == [900, 950, 1000]


def test_selection_binpacks_onto_the_fuller_node() -> None:
    snap = cluster().snapshot()
    job = snap.jobs[("default", "j")]
    for seed in range(10):
        sel = Selector(snap, job, [], seed=seed, stopping=set())
        g = sel.group(job, job.task_groups[0])
        assert sel.nodes[sel.select(g)].id == "b"


def test_selection_penalises_the_node_a_failed_allocation_ran_on() -> None:
    snap = cluster().snapshot()
    job = snap.jobs[("default", "j")]
    sel = Selector(snap, job, [], seed=1, stopping=set())
    g = sel.group(job, job.task_groups[0])
    assert sel.nodes[sel.select(g, penalty="b")].id == "a"


def test_the_selectors_inline_score_is_rank_final_score() -> None:
    store = cluster()
    snap = store.snapshot()
    job = snap.jobs[("default", "j")]
    for penalty in ("", "b"):
        sel = Selector(snap, job, [], seed=1, stopping=set())
        g = sel.group(job, job.task_groups[0])
        g.feasibility.reason = lambda node: "" if node.id == "b" else "elsewhere"  # type: ignore[method-assign]
        g.collisions["b"] = 2
        assert sel.nodes[sel.select(g, penalty)].id == "b"
        after = [300 - 100, 650 - 300]  # b's free cpu and memory after this ask
        expected = final_score(binpack(900, 950, *after), 2, g.count, penalty == "b")
        assert sel.score == pytest.approx(expected)
