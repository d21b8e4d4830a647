"""Service registrations and check results in the state store: upsert, indexes,
deregistration when an allocation ends or its node goes down, snapshots."""

from __future__ import annotations

from gitorch import codec
from gitorch.core import commands as c
from gitorch.core.model import Job, Node, Placement, Plan, Task, TaskGroup
from gitorch.core.model.service import CheckResult, ServiceRegistration
from gitorch.core.state import StateStore


def _store() -> StateStore:
    store = StateStore()
    job = Job(id="web", task_groups=[TaskGroup(name="g", tasks=[Task(name="t", driver="mock")])])
    store.apply(c.RegisterJob(now=1, job=job))
    store.apply(c.RegisterNode(now=1, node=Node(id="n1", name="n1", status="ready")))
    plan = Plan(eval_id="e", namespace="default", job_id="web", job_version=0,
                placements=[Placement(id="a1", node_id="n1", task_group="g", index=0)])  # fmt: skip
    store.apply(c.ApplyPlan(now=1, plan=plan))
    return store


def _reg(reg_id: str = "r1", alloc: str = "a1") -> ServiceRegistration:
    return ServiceRegistration(id=reg_id, service_name="web", node_id="n1", job_id="web",
                               alloc_id=alloc, address="10.0.0.1", port=8080)  # fmt: skip


def test_upsert_indexes_by_name_and_alloc_and_keeps_create_index() -> None:
    store = _store()
    first = store.apply(c.UpsertServices(now=2, services=[_reg()])).index
    (reg,) = store.svc.named("default", "web")
    assert (reg.create_index, reg.modify_index, reg.port) == (first, first, 8080)
    again = store.apply(c.UpsertServices(now=3, services=[_reg()]))
    assert store.svc.named("default", "web")[0].modify_index == first  # unchanged spec
    moved = store.apply(c.UpsertServices(now=4, services=[msgspec_replace(_reg(), port=9090)]))
    (reg,) = store.svc.of_alloc("a1")
    assert (reg.create_index, reg.modify_index, reg.port) == (first, moved.index, 9090)
    assert again.error == ""


def msgspec_replace(reg: ServiceRegistration, **kw: object) -> ServiceRegistration:
    import msgspec

    return msgspec.structs.replace(reg, **kw)


def test_registrations_of_an_unknown_alloc_are_refused() -> None:
    store = _store()
    result = store.apply(c.UpsertServices(now=2, services=[_reg(alloc="nope")]))
    assert "not live" in result.error
    assert store.svc.named("default", "web") == []


def test_a_failing_check_makes_the_instance_unhealthy() -> None:
    store = _store()
    store.apply(c.UpsertServices(now=2, services=[_reg()]))
    (reg,) = store.svc.named("default", "web")
    assert store.svc.healthy(reg)
    bad = CheckResult(id="k", check="alive", service="web", status="failure")
    store.apply(c.UpsertCheckResults(now=3, alloc_id="a1", results=[bad]))
    assert not store.svc.healthy(reg)
    assert store.svc.checks_of("a1") == (bad,)


def test_client_terminal_alloc_and_down_node_deregister() -> None:
    store = _store()
    store.apply(c.UpsertServices(now=2, services=[_reg()]))
    snap = store.snapshot()
    store.apply(c.UpdateNodeStatus(now=3, node_id="n1", status="down"))
    assert store.svc.named("default", "web") == []
    assert len(snap.svc.named("default", "web")) == 1  # the snapshot is unchanged

    store = _store()
    store.apply(c.UpsertServices(now=2, services=[_reg()]))
    done = c.AllocClientUpdate(id="a1", client_status="complete")
    store.apply(c.UpdateAllocsFromClient(now=3, updates=[done]))
    assert store.svc.of_alloc("a1") == []


def test_delete_by_id_and_snapshot_round_trip() -> None:
    store = _store()
    store.apply(c.UpsertServices(now=2, services=[_reg("r1"), _reg("r2")]))
    ok = CheckResult(id="k", check="alive", service="web", status="success")
    store.apply(c.UpsertCheckResults(now=3, alloc_id="a1", results=[ok]))
    loaded = StateStore.load(codec.decode_state(codec.encode_state(store.dump())))
    assert [r.id for r in loaded.svc.named("default", "web")] == ["r1", "r2"]
    assert loaded.svc.checks_of("a1") == (ok,)
    missing = store.apply(c.DeleteServices(now=4, ids=["r1", "zz"]))
    assert "zz" in missing.error
    assert [r.id for r in store.svc.named("default", "web")] == ["r2"]
