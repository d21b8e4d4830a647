"""The state store's per-node usage index always equals a recount of live allocations,
whatever sequence of plans, client updates and stops is applied (Hypothesis)."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from gitorch.core import commands as c
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.model import (
    AllocatedDevice,
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
    TaskState,
)
from gitorch.core.model.alloc import NO_DEVICES, NO_TASK_STATES
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


def test_new_allocations_share_one_empty_dict_and_nothing_fills_it() -> None:
    """Allocations without devices or task states share the model's empty dicts (memory
    at a million allocations); a client's task states and a placement's devices are
    each allocation's own, and the shared ones stay empty."""
    store = setup()
    gpu = {"t": [AllocatedDevice(vendor="nvidia", type="gpu", name="a100", device_ids=["0"])]}
    placements = [
        Placement(id="plain", task_group="g", index=0, node_id="n0"),
        Placement(id="with-gpu", task_group="g", index=1, node_id="n1", devices=gpu),
    ]
    store.apply(c.ApplyPlan(now=1, plan=Plan(eval_id="e", job_id="big", placements=placements)))
    plain, with_gpu = store.allocs["plain"], store.allocs["with-gpu"]
    assert plain.task_states is NO_TASK_STATES and plain.allocated_devices is NO_DEVICES
    assert with_gpu.allocated_devices == gpu and with_gpu.task_states is NO_TASK_STATES
    running = {"t": TaskState(state="running", started_at=2)}
    update = AllocClientUpdate(id="plain", client_status="running", task_states=running)
    store.apply(c.UpdateAllocsFromClient(now=2, updates=[update]))
    assert store.allocs["plain"].task_states == running
    assert store.allocs["with-gpu"].task_states == {}
    assert NO_TASK_STATES == {} and NO_DEVICES == {}
    payload = msgspec.msgpack.encode(store.dump())  # a dump writes {}: decoded, its own
    restored = StateStore.load(msgspec.msgpack.decode(payload, type=StateDump))
    assert restored.allocs["with-gpu"].task_states is NO_TASK_STATES
    assert restored.allocs["plain"].allocated_devices is NO_DEVICES
    assert restored.allocs["plain"].task_states == running
    assert restored.allocs["with-gpu"].allocated_devices == gpu
