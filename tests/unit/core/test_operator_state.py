"""The operator tables: the scheduler configuration (CAS, validation, honoured by the
scheduler's scoring) and a snapshot restore staged in chunks through the FSM."""

from __future__ import annotations

import msgspec
import pytest

from gitorch.core.commands import PurgeNode, RegisterJob, SetSchedulerConfig, StageRestore
from gitorch.core.model import Evaluation, Job, TaskGroup
from gitorch.core.model.operator import SchedulerConfiguration
from gitorch.core.opcommands import CAS_MISMATCH
from gitorch.core.scheduler.rank import binpack, spread_fit
from gitorch.core.state import StateStore
from tests.unit.core.test_scheduler import Cluster, make_job, make_node


def set_config(store: StateStore, cas: int | None = None, **kw: object) -> str:
    config = msgspec.structs.replace(SchedulerConfiguration(), **kw)
    return store.apply(SetSchedulerConfig(now=1, config=config, cas=cas)).error


def test_spread_fit_prefers_the_emptiest_node_and_binpack_the_fullest() -> None:
    empty, half, full = (1000, 1000), (500, 500), (0, 0)
    assert spread_fit(1000, 1000, *empty) == 1.0 and spread_fit(1000, 1000, *full) == 0.0
    assert binpack(1000, 1000, *empty) == 0.0 and binpack(1000, 1000, *full) == 1.0
    assert spread_fit(1000, 1000, *empty) > spread_fit(1000, 1000, *half)
    assert binpack(1000, 1000, *half) > binpack(1000, 1000, *empty)


@pytest.mark.parametrize(("algorithm", "same_node"), [("binpack", True), ("spread", False)])
def test_the_algorithm_in_the_state_decides_where_the_next_job_goes(
    algorithm: str, same_node: bool
) -> None:
    c = Cluster(make_node("a"), make_node("b"))
    assert set_config(c.store, scheduler_algorithm=algorithm) == ""
    first = c.run(c.register(make_job(count=1, cpu=300, id="first")))
    second = c.run(c.register(make_job(count=1, cpu=300, id="second")))
    used = first.placements[0].node_id
    assert (second.placements[0].node_id == used) is same_node


def test_spread_places_a_group_evenly_where_binpack_fills_one_node() -> None:
    spread = Cluster(make_node("a"), make_node("b"), make_node("c"))
    set_config(spread.store, scheduler_algorithm="spread")
    plan = spread.run(spread.register(make_job(count=3, cpu=100)))
    assert len({p.node_id for p in plan.placements}) == 3


def test_defaults_cas_and_validation() -> None:
    store = StateStore()
    assert store.operator.config().algorithm() == "binpack"
    assert store.operator.config().preemption_config.system_scheduler_enabled
    assert set_config(store, cas=5, scheduler_algorithm="spread") == CAS_MISMATCH
    assert set_config(store, cas=0, scheduler_algorithm="spread") == ""
    index = store.operator.config().modify_index
    assert set_config(store, cas=0, scheduler_algorithm="binpack") == CAS_MISMATCH
    assert "invalid scheduler algorithm" in set_config(store, scheduler_algorithm="random")
    assert store.operator.config().algorithm() == "spread"
    assert set_config(store, cas=index, reject_job_registration=True) == ""
    assert store.operator.config().reject_job_registration
    assert store.operator.config().create_index == index  # created once, modified since
    assert store.table_index["scheduler_config"] == store.index


def test_a_restore_in_chunks_replaces_the_tables_at_a_later_index() -> None:
    store = StateStore()
    ev = Evaluation(id="e1", job_id="a")
    store.apply(RegisterJob(now=1, job=Job(id="a", task_groups=[TaskGroup(name="g")]), eval=ev))
    set_config(store, scheduler_algorithm="spread")
    saved = msgspec.msgpack.encode(store.dump())
    store.apply(RegisterJob(now=2, job=Job(id="b")))
    set_config(store, scheduler_algorithm="binpack")
    before = store.index
    parts = [saved[i : i + 100] for i in range(0, len(saved), 100)]
    for seq, part in enumerate(parts[:-1]):
        assert store.apply(StageRestore(now=3, restore_id="r", seq=seq, data=part)).error == ""
        assert store.job("default", "b") is not None  # nothing changes until the last chunk
    last = StageRestore(now=3, restore_id="r", seq=len(parts) - 1, data=parts[-1], last=True)
    result = store.apply(last)
    assert result.error == "" and [e.id for e in result.new_evals] == ["e1"]
    assert store.job("default", "a") is not None and store.job("default", "b") is None
    assert store.operator.config().algorithm() == "spread"
    assert store.index == before + len(parts) and store.operator.staged == ()
    assert all(i == store.index for i in store.table_index.values())


def test_a_restore_out_of_order_or_of_garbage_changes_nothing() -> None:
    store = StateStore()
    store.apply(RegisterJob(now=1, job=Job(id="a")))
    assert "out of order" in store.apply(
        StageRestore(now=2, restore_id="r", seq=1, data=b"x", last=True)
    ).error
    error = store.apply(StageRestore(now=2, restore_id="r", seq=0, data=b"\xc1", last=True)).error
    assert error.startswith("snapshot restore:")
    assert store.job("default", "a") is not None and store.operator.staged == ()


def test_a_purged_node_is_forgotten_and_its_allocations_replaced_elsewhere() -> None:
    c = Cluster(make_node("a", secret_id="s-a"), make_node("b"))
    c.run(c.register(make_job(count=2, cpu=100)))
    on_a = [a.id for a in c.store.allocs_for_node("a") if not a.terminal()]
    ev = Evaluation(id="purge-eval", job_id="web", type="service", triggered_by="node-update")
    result = c.store.apply(PurgeNode(now=c.tick(), node_id="a", evals=[ev]))
    assert result.error == "" and [e.id for e in result.new_evals] == ["purge-eval"]
    assert "a" not in c.store.nodes and "s-a" not in c.store.nodes_by_secret
    assert c.store.apply(PurgeNode(now=c.tick(), node_id="a")).error == "node 'a' not found"
    c.run(ev)
    assert all(c.store.allocs[i].client_status == "lost" for i in on_a)
    live = [a for a in c.store.allocs.values() if not a.terminal()]
    assert len(live) == 2 and {a.node_id for a in live} == {"b"}
