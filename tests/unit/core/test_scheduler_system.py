"""The system and sysbatch schedulers, end to end on a real StateStore."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitorch.core.commands import (
    AllocClientUpdate,
    RegisterNode,
    UpdateAllocsFromClient,
    UpdateNodeEligibility,
    UpdateNodeStatus,
)
from gitorch.core.model import (
    Constraint,
    NetworkResource,
    Node,
    Port,
    Resources,
    Task,
    TaskGroup,
    replace,
)
from gitorch.core.scheduler.nodediff import DRAINING, NOT_TARGETED
from gitorch.core.scheduler.reconcile import LOST, NOT_NEEDED
from gitorch.core.scheduler.system import INFEASIBLE
from tests.unit.core.test_scheduler import Cluster, make_job, make_node


def live_by_node(c: Cluster) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for a in c.store.allocs.values():
        if not a.terminal():
            out.setdefault(a.node_id, []).append(a.task_group)
    return {k: sorted(v) for k, v in sorted(out.items())}


def test_one_alloc_per_node_per_group_with_index_zero() -> None:
    c = Cluster(make_node("a"), make_node("b"), make_node("c"))
    job = make_job(count=1, kind="system")
    second = TaskGroup(name="h", tasks=job.task_groups[0].tasks)
    job = replace(job, task_groups=[*job.task_groups, second])
    plan = c.run(c.register(job))
    assert plan.eval_update is not None and plan.eval_update.status == "complete"
    assert live_by_node(c) == {"a": ["g", "h"], "b": ["g", "h"], "c": ["g", "h"]}
    assert sorted({a.name for a in c.store.allocs.values()}) == ["web.g[0]", "web.h[0]"]
    again = c.plan(c.register(job))  # idempotent: nothing left to do
    assert again.is_noop()


def test_a_node_that_joins_later_gets_one() -> None:
    c = Cluster(make_node("a"))
    job = make_job(count=1, kind="system")
    c.run(c.register(job))
    c.store.apply(RegisterNode(now=c.tick(), node=make_node("b")))
    plan = c.run(c.register(job))
    assert [p.node_id for p in plan.placements] == ["b"]
    assert live_by_node(c) == {"a": ["g"], "b": ["g"]}


def test_down_node_loses_its_alloc_and_drained_or_untargeted_node_stops_it() -> None:
    c = Cluster(make_node("a"), make_node("b"), make_node("c"), make_node("d"))
    job = make_job(count=1, kind="system", datacenters=["dc1"])
    c.run(c.register(job))
    c.store.apply(UpdateNodeStatus(now=c.tick(), node_id="a", status="down"))
    c.store.apply(RegisterNode(now=c.tick(), node=make_node("b", drain=True)))
    c.store.apply(RegisterNode(now=c.tick(), node=make_node("c", datacenter="dc2")))
    plan = c.run(c.register(job))
    by_node = {c.store.allocs[s.id].node_id: s for s in plan.stops}
    assert (by_node["a"].description, by_node["a"].client_status) == (LOST, "lost")
    assert by_node["b"].description == DRAINING
    assert by_node["c"].description == NOT_TARGETED
    assert plan.placements == []
    assert live_by_node(c) == {"d": ["g"]}


def test_ineligible_node_keeps_its_alloc_but_gets_no_new_one() -> None:
    c = Cluster(make_node("a"), make_node("b"))
    job = make_job(count=1, kind="system")
    c.run(c.register(job))
    c.store.apply(UpdateNodeEligibility(now=c.tick(), node_id="a", eligibility="ineligible"))
    assert c.plan(c.register(job)).is_noop()  # Nomad leaves it running
    c.store.apply(
        RegisterNode(now=c.tick(), node=make_node("c", scheduling_eligibility="ineligible"))
    )
    assert c.plan(c.register(job)).is_noop()
    assert live_by_node(c) == {"a": ["g"], "b": ["g"]}


def test_constraints_filter_nodes_without_a_failure() -> None:
    other = make_node("b", attributes={"kernel.name": "darwin"})
    c = Cluster(make_node("a"), other)
    con = Constraint(ltarget="${attr.kernel.name}", rtarget="linux")
    plan = c.run(c.register(make_job(count=1, kind="system", constraints=[con])))
    assert [p.node_id for p in plan.placements] == ["a"]
    assert plan.eval_update is not None and plan.eval_update.failed_tg_allocs == {}
    assert plan.new_evals == []


def test_a_node_without_capacity_gets_the_reason_and_a_blocked_eval() -> None:
    c = Cluster(make_node("a"), make_node("small", node_resources=replace(
        make_node("x").node_resources, cpu=replace(make_node("x").node_resources.cpu, cpu_shares=50)
    )))  # fmt: skip
    plan = c.run(c.register(make_job(count=1, kind="system", cpu=100)))
    assert [p.node_id for p in plan.placements] == ["a"]
    ev = plan.eval_update
    assert ev is not None
    metric = ev.failed_tg_allocs["g"]
    assert (metric.nodes_exhausted, metric.dimension_exhausted) == (1, {"cpu": 1})
    assert ev.queued_allocations == {"g": 1}
    assert [e.status for e in plan.new_evals] == ["blocked"]


def test_plan_accounts_for_its_own_placements_per_node() -> None:
    task = Task(name="t", driver="exec", resources=Resources(cpu=600, memory_mb=100))
    job = make_job(count=1, kind="system")
    groups = [TaskGroup(name=n, tasks=[task]) for n in ("g", "h")]  # 1200 MHz > 1000
    c = Cluster(make_node("a"))
    plan = c.plan(c.register(replace(job, task_groups=groups)))
    # one group fits, the other fails for cpu on the same node
    assert len(plan.placements) == 1
    assert plan.eval_update is not None
    assert list(plan.eval_update.failed_tg_allocs) == ["h"]


def test_static_port_collision_is_a_failure_reason() -> None:
    net = NetworkResource(reserved_ports=[Port(label="http", value=8080)])
    job = make_job(count=1, kind="system")
    g = replace(job.task_groups[0], networks=[net])
    c = Cluster(make_node("a"))
    c.run(c.register(replace(job, task_groups=[g])))
    other = replace(job, id="other", task_groups=[g])
    plan = c.plan(c.register(other))
    assert plan.placements == []
    assert plan.eval_update is not None
    assert plan.eval_update.failed_tg_allocs["g"].nodes_exhausted == 1


def test_update_replaces_in_place_and_infeasible_update_stops() -> None:
    c = Cluster(make_node("a"), make_node("b", attributes={"kernel.name": "darwin"}))
    job = make_job(count=1, kind="system")
    c.run(c.register(job))
    con = Constraint(ltarget="${attr.kernel.name}", rtarget="linux")
    task = replace(job.task_groups[0].tasks[0], env={"V": "2"})
    group = replace(job.task_groups[0], tasks=[task], constraints=[con])
    plan = c.run(c.register(replace(job, task_groups=[group])))
    assert [p.node_id for p in plan.placements] == ["a"]
    stops = {c.store.allocs[s.id].node_id: s.description for s in plan.stops}
    assert stops == {"a": NOT_NEEDED, "b": INFEASIBLE}
    assert plan.placements[0].previous_allocation in {s.id for s in plan.stops}
    assert live_by_node(c) == {"a": ["g"]}


def test_sysbatch_runs_once_per_node_and_not_again() -> None:
    c = Cluster(make_node("a"), make_node("b"))
    job = make_job(count=1, kind="sysbatch")
    c.run(c.register(job))
    done = [AllocClientUpdate(id=a.id, client_status="complete") for a in c.store.allocs.values()]
    c.store.apply(UpdateAllocsFromClient(now=c.tick(), updates=done))
    assert c.plan(c.register(job)).is_noop()
    c.store.apply(RegisterNode(now=c.tick(), node=make_node("c")))
    plan = c.run(c.register(job))
    assert [p.node_id for p in plan.placements] == ["c"]
    # a changed job runs again everywhere
    task = replace(job.task_groups[0].tasks[0], env={"V": "2"})
    changed = replace(job, task_groups=[replace(job.task_groups[0], tasks=[task])])
    plan = c.plan(c.register(changed))
    assert sorted(p.node_id for p in plan.placements) == ["a", "b", "c"]


def test_system_job_replaces_a_failed_alloc() -> None:
    c = Cluster(make_node("a"))
    job = make_job(count=1, kind="system")
    c.run(c.register(job))
    (alloc,) = c.store.allocs.values()
    failed = [AllocClientUpdate(id=alloc.id, client_status="failed")]
    c.store.apply(UpdateAllocsFromClient(now=c.tick(), updates=failed))
    plan = c.plan(c.register(job))
    assert [(p.node_id, p.previous_allocation) for p in plan.placements] == [("a", alloc.id)]


def test_stopping_a_system_job_stops_everything() -> None:
    c = Cluster(make_node("a"), make_node("b"))
    job = make_job(count=1, kind="system")
    c.run(c.register(job))
    plan = c.run(c.register(replace(job, stop=True)))
    assert len(plan.stops) == 2
    assert live_by_node(c) == {}


# -- property: exactly one live allocation per targeted node per group ----------------

NODE = st.fixed_dictionaries(
    {
        "dc": st.sampled_from(["dc1", "dc2"]),
        "kernel": st.sampled_from(["linux", "darwin"]),
    }
)
EVENT = st.tuples(
    st.sampled_from(["down", "ready", "ineligible", "eligible", "drain", "undrain", "join"]),
    st.integers(min_value=0, max_value=7),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.lists(NODE, min_size=1, max_size=6),
    events=st.lists(EVENT, max_size=8),
    kind=st.sampled_from(["system", "sysbatch"]),
    constrained=st.booleans(),
    groups=st.integers(min_value=1, max_value=2),
)
def test_property_one_live_alloc_per_eligible_node_per_group(
    nodes: list[dict[str, str]],
    events: list[tuple[str, int]],
    kind: str,
    constrained: bool,
    groups: int,
) -> None:
    def node(i: int, spec: dict[str, str], **kw: object) -> Node:
        return make_node(
            f"n{i}", datacenter=spec["dc"], attributes={"kernel.name": spec["kernel"]}, **kw
        )

    c = Cluster(*(node(i, spec) for i, spec in enumerate(nodes)))
    specs = dict(enumerate(nodes))
    cons = [Constraint(ltarget="${attr.kernel.name}", rtarget="linux")] if constrained else []
    base = make_job(count=1, kind=kind, datacenters=["dc1"], constraints=cons)
    tasks = base.task_groups[0].tasks
    job = replace(base, task_groups=[TaskGroup(name=f"g{k}", tasks=tasks) for k in range(groups)])
    ever_ran: set[str] = set()

    def settle() -> None:
        for _ in range(3):  # a second pass must find nothing to do (idempotent)
            plan = c.run(c.register(job))
            ever_ran.update(p.node_id for p in plan.placements)

    settle()
    for what, i in events:
        nid = f"n{i}"
        if what == "join" and i not in specs:
            specs[i] = {"dc": "dc1", "kernel": "linux"}
            c.store.apply(RegisterNode(now=c.tick(), node=node(i, specs[i])))
        elif nid not in c.store.nodes:
            continue
        elif what in ("down", "ready"):
            c.store.apply(UpdateNodeStatus(now=c.tick(), node_id=nid, status=what))
        elif what in ("ineligible", "eligible"):
            c.store.apply(UpdateNodeEligibility(now=c.tick(), node_id=nid, eligibility=what))
        else:
            drained = replace(c.store.nodes[nid], drain=what == "drain")
            c.store.apply(RegisterNode(now=c.tick(), node=drained))
        settle()
        assert c.plan(c.register(job)).is_noop()
    live = live_by_node(c)
    want = [f"g{k}" for k in range(groups)]
    for nid, n in c.store.nodes.items():
        feasible = n.attributes["kernel.name"] == "linux" or not constrained
        up = n.status == "ready" and not n.drain and n.datacenter == "dc1" and feasible
        if up and n.scheduling_eligibility == "eligible":
            if kind == "system":
                assert live.get(nid) == want, (nid, live)
            else:  # sysbatch: running now, or ran once already
                assert live.get(nid, []) in ([], want)
                assert nid in ever_ran
        elif up:  # ready but ineligible: keeps what it had, gets nothing new
            assert live.get(nid, []) in ([], want)
        else:
            assert nid not in live, (nid, n, live)
