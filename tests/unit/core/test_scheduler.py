"""schedule(snapshot, eval) end to end on a real StateStore: plans, metrics, blocked evals."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from gitorch.core.commands import (
    AllocClientUpdate,
    ApplyPlan,
    RegisterJob,
    RegisterNode,
    UpdateAllocsFromClient,
    UpdateNodeStatus,
)
from gitorch.core.model import (
    Constraint,
    DriverInfo,
    Evaluation,
    Job,
    Node,
    NodeCpu,
    NodeDisk,
    NodeMemory,
    NodeResources,
    Plan,
    Resources,
    Task,
    TaskGroup,
    replace,
)
from gitorch.core.scheduler import schedule
from gitorch.core.scheduler.reconcile import LOST, NOT_NEEDED, RESCHEDULED
from gitorch.core.scheduler.select import Selector
from gitorch.core.state import StateStore


def make_node(node_id: str, **kw: object) -> Node:
    base = Node(
        id=node_id,
        name=node_id,
        status="ready",
        attributes={"kernel.name": "linux"},
        node_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=1000),
            memory=NodeMemory(memory_mb=1000),
            disk=NodeDisk(disk_mb=1000),
        ),
        drivers={"exec": DriverInfo(detected=True, healthy=True)},
    )
    return replace(base, **kw)


def make_job(count: int = 2, cpu: int = 100, kind: str = "service", **kw: object) -> Job:
    task = Task(name="t", driver="exec", resources=Resources(cpu=cpu, memory_mb=100))
    base = Job(id="web", type=kind, task_groups=[TaskGroup(name="g", count=count, tasks=[task])])  # type: ignore[arg-type]
    return replace(base, **kw)


class Cluster:
    def __init__(self, *nodes: Node) -> None:
        self.store = StateStore()
        self.ids = (f"id-{i}" for i in itertools.count())
        self.now = 0
        for node in nodes:
            self.store.apply(RegisterNode(now=self.tick(), node=node))

    def tick(self) -> int:
        self.now += 1
        return self.now

    def new_id(self) -> Callable[[], str]:
        return lambda: next(self.ids)

    def register(self, job: Job) -> Evaluation:
        ev = Evaluation(id=next(self.ids), job_id=job.id, type=job.type)
        self.store.apply(RegisterJob(now=self.tick(), job=job, eval=ev))
        return ev

    def plan(self, ev: Evaluation, seed: int = 7) -> Plan:
        return schedule(self.store.snapshot(), ev, now=self.now, seed=seed, new_id=self.new_id())

    def run(self, ev: Evaluation) -> Plan:
        plan = self.plan(ev)
        self.store.apply(ApplyPlan(now=self.tick(), plan=plan))
        return plan

    def live(self) -> list[str]:
        return sorted(a.name for a in self.store.allocs.values() if not a.terminal())


def test_places_the_count_and_completes_the_eval() -> None:
    c = Cluster(make_node("a"), make_node("b"))
    plan = c.run(c.register(make_job(count=3)))
    assert sorted(p.index for p in plan.placements) == [0, 1, 2]
    assert plan.eval_update is not None and plan.eval_update.status == "complete"
    assert plan.eval_update.queued_allocations == {"g": 0}
    assert plan.new_evals == [] and plan.eval_update.blocked_eval == ""
    assert c.live() == ["web.g[0]", "web.g[1]", "web.g[2]"]


def test_nothing_to_do_is_a_noop_plan_with_the_eval_completed() -> None:
    c = Cluster(make_node("a"))
    ev = c.register(make_job(count=1))
    c.run(ev)
    again = c.plan(ev)
    assert again.is_noop() and again.eval_update is not None
    assert again.eval_update.status == "complete" and again.new_evals == []


def test_only_ready_eligible_undrained_nodes_in_the_datacenters_are_used() -> None:
    c = Cluster(
        make_node("down", status="down"),
        make_node("init", status="initializing"),
        make_node("inel", scheduling_eligibility="ineligible"),
        make_node("drain", drain=True),
        make_node("dc2", datacenter="dc2"),
        make_node("nodriver", drivers={}),
        make_node("ok"),
    )
    plan = c.run(c.register(make_job(count=4, datacenters=["dc1"])))
    assert {p.node_id for p in plan.placements} == {"ok"}


def test_a_job_that_fits_nowhere_explains_why_and_blocks() -> None:
    c = Cluster(
        make_node("small", node_resources=NodeResources(cpu=NodeCpu(cpu_shares=50))),
        make_node("win", attributes={"kernel.name": "windows"}, node_class="desktop"),
        make_node(
            "lowmem",
            node_resources=NodeResources(
                cpu=NodeCpu(cpu_shares=1000), memory=NodeMemory(memory_mb=50)
            ),
        ),
    )
    job = make_job(
        count=3, constraints=[Constraint(ltarget="${attr.kernel.name}", rtarget="linux")]
    )
    ev = c.register(job)
    plan = c.plan(ev)
    assert plan.placements == []
    upd = plan.eval_update
    assert upd is not None and upd.status == "complete"
    metric = upd.failed_tg_allocs["g"]
    assert metric.nodes_evaluated == 3 and metric.nodes_filtered == 1
    assert metric.constraint_filtered == {"${attr.kernel.name} = linux": 1}
    assert metric.class_filtered == {"desktop": 1}
    assert metric.nodes_exhausted == 2
    assert metric.dimension_exhausted == {"cpu": 1, "memory": 1}
    assert metric.coalesced_failures == 2
    assert metric.nodes_available == {"dc1": 3}
    assert upd.queued_allocations == {"g": 3}
    (blocked,) = plan.new_evals
    assert blocked.status == "blocked" and blocked.triggered_by == "queued-allocs"
    assert blocked.previous_eval == ev.id and blocked.job_id == "web"
    assert upd.blocked_eval == blocked.id


def test_missing_drivers_are_reported_like_nomad() -> None:
    c = Cluster(make_node("a", drivers={}))
    plan = c.plan(c.register(make_job(count=1)))
    assert plan.eval_update is not None
    assert plan.eval_update.failed_tg_allocs["g"].constraint_filtered == {"missing drivers": 1}


def test_partial_placement_queues_the_rest() -> None:
    c = Cluster(make_node("a"))
    plan = c.plan(c.register(make_job(count=5, cpu=300)))
    assert len(plan.placements) == 3
    assert plan.eval_update is not None
    assert plan.eval_update.queued_allocations == {"g": 2}
    assert plan.eval_update.failed_tg_allocs["g"].dimension_exhausted == {"cpu": 1}
    assert len(plan.new_evals) == 1


def test_a_blocked_eval_that_still_cannot_place_is_reblocked() -> None:
    c = Cluster(make_node("a"))
    job = make_job(count=1, cpu=5000)
    c.register(job)
    blocked = Evaluation(id="blk", job_id="web", status="blocked", triggered_by="queued-allocs")
    plan = c.plan(blocked)
    assert plan.eval_update is not None and plan.eval_update.status == "blocked"
    assert plan.new_evals == []


def test_distinct_hosts_at_job_and_group_level() -> None:
    for where in ("job", "group"):
        c = Cluster(make_node("a"), make_node("b"))
        job = make_job(count=3)
        con = [Constraint(operand="distinct_hosts", rtarget="true")]
        if where == "job":
            job = replace(job, constraints=con)
        else:
            job = replace(job, task_groups=[replace(job.task_groups[0], constraints=con)])
        plan = c.plan(c.register(job))
        assert sorted(p.node_id for p in plan.placements) == ["a", "b"]
        assert plan.eval_update is not None
        metric = plan.eval_update.failed_tg_allocs["g"]
        assert metric.constraint_filtered == {"distinct_hosts": 2}


def test_unknown_job_type_fails_the_eval_but_stopping_it_works() -> None:
    c = Cluster(make_node("a"))
    ev = c.register(make_job(kind="cron"))
    plan = c.plan(ev)
    assert plan.is_noop() and plan.eval_update is not None
    assert plan.eval_update.status == "failed"
    assert "cron" in plan.eval_update.status_description
    stop = c.register(make_job(kind="cron", stop=True))
    assert c.plan(stop).eval_update.status == "complete"  # type: ignore[union-attr]


def test_same_seed_same_plan() -> None:
    c = Cluster(*(make_node(f"n{i}") for i in range(20)))
    ev = c.register(make_job(count=10))
    first, second = c.plan(ev, seed=3), c.plan(ev, seed=3)
    assert [p.node_id for p in first.placements] == [p.node_id for p in second.placements]


def test_limit_is_log2_for_service_and_two_for_batch() -> None:
    c = Cluster(*(make_node(f"n{i}") for i in range(100)))
    snap = c.store.snapshot()
    assert Selector(snap, make_job(), [], seed=1, stopping=set()).limit == 7
    assert Selector(snap, make_job(kind="batch"), [], seed=1, stopping=set()).limit == 2


def test_a_down_node_loses_its_allocations_and_they_move() -> None:
    c = Cluster(make_node("a"), make_node("b"))
    ev = c.register(make_job(count=2, constraints=[Constraint(operand="distinct_hosts")]))
    first = c.run(ev)
    victim = first.placements[0]
    c.store.apply(UpdateNodeStatus(now=c.tick(), node_id=victim.node_id, status="down"))
    c.store.apply(RegisterNode(now=c.tick(), node=make_node("c")))
    plan = c.run(Evaluation(id="node-ev", job_id="web", triggered_by="node-update"))
    assert [(s.id, s.description, s.client_status) for s in plan.stops] == [
        (victim.id, LOST, "lost")
    ]
    (moved,) = plan.placements
    assert moved.previous_allocation == victim.id and moved.index == victim.index
    assert moved.node_id == "c"


def test_a_changed_job_is_updated_destructively_in_place_of_the_old() -> None:
    c = Cluster(make_node("a"))
    first = c.run(c.register(make_job(count=2, cpu=400)))
    plan = c.run(c.register(make_job(count=2, cpu=450)))  # fits only once the old are gone
    assert {s.description for s in plan.stops} == {NOT_NEEDED}
    assert sorted(p.previous_allocation for p in plan.placements) == sorted(
        p.id for p in first.placements
    )
    assert plan.job_version == 1 and c.live() == ["web.g[0]", "web.g[1]"]


def test_a_failed_service_alloc_is_rescheduled() -> None:
    c = Cluster(make_node("a"), make_node("b"))
    first = c.run(c.register(make_job(count=1)))
    (orig,) = first.placements
    update = AllocClientUpdate(id=orig.id, client_status="failed")
    c.store.apply(UpdateAllocsFromClient(now=c.tick(), updates=[update]))
    c.now += 30 * 1_000_000_000  # the default service reschedule delay
    plan = c.run(Evaluation(id="fail-ev", job_id="web", triggered_by="alloc-failure"))
    assert [(s.id, s.description) for s in plan.stops] == [(orig.id, RESCHEDULED)]
    (again,) = plan.placements
    assert again.previous_allocation == orig.id and again.node_id != orig.node_id


def test_stopping_and_purging_stop_everything() -> None:
    c = Cluster(make_node("a"))
    c.run(c.register(make_job(count=2)))
    plan = c.run(c.register(make_job(count=2, stop=True)))
    assert len(plan.stops) == 2 and plan.placements == [] and c.live() == []
    assert plan.eval_update is not None and plan.eval_update.status == "complete"


def test_scale_down_frees_room_for_another_group_in_the_same_plan() -> None:
    c = Cluster(make_node("a"))
    c.run(c.register(make_job(count=2, cpu=500)))
    big, small = make_job(count=1, cpu=500).task_groups[0], make_job(count=1).task_groups[0]
    job = make_job(task_groups=[big, replace(small, name="h", count=1)])
    # same spec for g, so nothing is destructive; count 2 -> 1 frees 500 MHz for h
    plan = c.run(c.register(job))
    assert [p.task_group for p in plan.placements] == ["h"]
    assert len(plan.stops) == 1
