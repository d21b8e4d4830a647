"""The state store's per-node usage index always equals a recount of live allocations,
whatever sequence of plans, client updates and stops is applied (Hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gitorch.core import commands as c
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.model import (
    AllocStop,
    DriverInfo,
    Job,
    Node,
    NodeCpu,
    NodeMemory,
    NodeResources,
    Placement,
    Plan,
    Resources,
    Task,
    TaskGroup,
)
from gitorch.core.state import StateDump, StateStore

NODES = [f"n{i}" for i in range(3)]


def recount(store: StateStore, node_id: str) -> tuple[int, int, int]:
    live = [a for a in store.allocs_for_node(node_id) if not a.terminal()]
    return (
        sum(a.resources.cpu for a in live),
        sum(a.resources.memory_mb for a in live),
        sum(a.resources.disk_mb for a in live),
    )


def setup() -> StateStore:
    store = StateStore()
    for n in NODES:
        node = Node(
            id=n,
            status="ready",
            drivers={"mock": DriverInfo(detected=True, healthy=True)},
            node_resources=NodeResources(
                cpu=NodeCpu(cpu_shares=10_000), memory=NodeMemory(memory_mb=10_000)
            ),
        )
        store.apply(c.RegisterNode(now=1, node=node))
    for size, name in ((100, "small"), (300, "big")):
        task = Task(name="t", driver="mock", resources=Resources(cpu=size, memory_mb=size))
        job = Job(id=name, task_groups=[TaskGroup(name="g", count=1, tasks=[task])])
        store.apply(c.RegisterJob(now=1, job=job))
    return store


step = st.one_of(
    st.tuples(st.just("place"), st.sampled_from(["small", "big"]), st.sampled_from(NODES)),
    st.tuples(st.just("stop"), st.integers(0, 50), st.sampled_from(["", "lost"])),
    st.tuples(
        st.just("client"), st.integers(0, 50), st.sampled_from(["running", "complete", "failed"])
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=40))
def test_usage_index_equals_a_recount(steps: list[tuple[str, object, object]]) -> None:
    store = setup()
    ids: list[str] = []
    for n, (kind, a, b) in enumerate(steps):
        if kind == "place":
            alloc_id = f"a{n}"
            ids.append(alloc_id)
            placement = Placement(id=alloc_id, task_group="g", index=n, node_id=str(b))
            plan = Plan(eval_id=f"e{n}", job_id=str(a), placements=[placement])
            store.apply(c.ApplyPlan(now=n, plan=plan))
        elif ids and kind == "stop":
            target = ids[int(str(a)) % len(ids)]
            stop = AllocStop(id=target, description="stop", client_status=str(b))
            job_id = store.allocs[target].job_id
            store.apply(c.ApplyPlan(now=n, plan=Plan(eval_id=f"e{n}", job_id=job_id, stops=[stop])))
        elif ids and kind == "client":
            target = ids[int(str(a)) % len(ids)]
            update = AllocClientUpdate(id=target, client_status=str(b))
            store.apply(c.UpdateAllocsFromClient(now=n, updates=[update]))
        for node in NODES:
            assert store.node_used(node) == recount(store, node)
    reloaded = StateStore.load(store.dump())
    assert isinstance(store.dump(), StateDump)
    for node in NODES:
        assert reloaded.node_used(node) == store.node_used(node)


def test_stopping_allocations_are_left_out() -> None:
    store = setup()
    for i in range(3):
        placement = Placement(id=f"a{i}", task_group="g", index=i, node_id="n0")
        store.apply(c.ApplyPlan(now=i, plan=Plan(eval_id="e", job_id="big", placements=[placement])))
    assert store.node_used("n0") == (900, 900, 0)
    assert store.node_used("n0", {"a1", "zzz"}) == (600, 600, 0)
    assert store.node_used("n1", {"a1"}) == (0, 0, 0)
