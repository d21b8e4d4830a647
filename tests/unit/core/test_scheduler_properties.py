"""Hypothesis properties of schedule() over random clusters, jobs and cluster events.

States are built only through StateStore.apply(RegisterNode | RegisterJob | ApplyPlan |
...), the way the servers build them.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitorch.core import planapply
from gitorch.core.commands import (
    AllocClientUpdate,
    ApplyPlan,
    DeregisterJob,
    RegisterJob,
    RegisterNode,
    UpdateAllocsFromClient,
    UpdateNodeEligibility,
    UpdateNodeStatus,
)
from gitorch.core.model import (
    Affinity,
    Allocation,
    Constraint,
    DriverInfo,
    Evaluation,
    Job,
    NetworkResource,
    Node,
    NodeCpu,
    NodeDevice,
    NodeDeviceResource,
    NodeDisk,
    NodeMemory,
    NodeResources,
    Plan,
    Port,
    RequestedDevice,
    Resources,
    Task,
    TaskGroup,
    replace,
)
from gitorch.core.model.node import compute_class
from gitorch.core.scheduler import schedule
from gitorch.core.scheduler.devices import device_keys, healthy_keys
from gitorch.core.scheduler.feasible import (
    compile_constraint,
    distinct_hosts,
    driver_ok,
    in_datacenters,
)
from gitorch.core.scheduler.rank import capacity, exhausted, free
from gitorch.core.scheduler.select import candidates
from gitorch.core.state import StateStore, StateView

DRIVERS = ("exec", "docker")
CONSTRAINTS = (
    Constraint(ltarget="${attr.kernel.name}", rtarget="linux"),
    Constraint(ltarget="${meta.rack}", operand="!=", rtarget="r2"),
    Constraint(ltarget="${node.unique.name}", operand="regexp", rtarget="[0-5]$"),
    Constraint(ltarget="${attr.cpu.cores}", operand=">=", rtarget="4"),
    Constraint(operand="distinct_hosts"),
)
DEVICE_KINDS = (("nvidia", "gpu", "T4", "16 GiB"), ("nvidia", "gpu", "A100", "80 GiB"),
                ("amd", "gpu", "MI50", "32 GiB"), ("xilinx", "fpga", "U250", "64 GiB"))  # fmt: skip
DEVICE_NAMES = ("gpu", "nvidia/gpu", "nvidia/gpu/A100", "fpga")
BIG_MEMORY = Constraint(ltarget="${device.attr.memory}", operand=">=", rtarget="20 GiB")
LIKE_T4 = Affinity(ltarget="${device.model}", rtarget="T4", weight=70)
PORT_LABELS = ("http", "db", "admin")
STATIC_PORTS = (8080, 8081, 20001)
PROPS = settings(
    max_examples=int(os.environ.get("GITORCH_PROPERTY_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def nodes(draw: st.DrawFn) -> list[Node]:
    """1-8 nodes; the first two start out usable (ready, eligible, healthy, roomy)."""
    out = []
    for i in range(draw(st.integers(1, 8))):

        def pick(usable: object, *others: object, i: int = i) -> Any:
            return usable if i < 2 else draw(st.sampled_from([usable] * 4 + list(others)))

        node = Node(
            id=f"n{i}",
            name=f"node{i}",
            datacenter=draw(st.sampled_from(["dc1", "dc2"])),
            status=pick("ready", "down", "initializing"),
            scheduling_eligibility=pick("eligible", "ineligible"),
            drain=pick(False, True),
            attributes={
                "kernel.name": pick("linux", "windows"),
                "cpu.cores": str(draw(st.integers(1, 8))),
                "unique.hostname": f"host{i}",
            },
            meta={"rack": draw(st.sampled_from(["r1", "r2"]))},
            node_resources=NodeResources(
                cpu=NodeCpu(cpu_shares=pick(4000, 2000, 1000, 500, 0)),
                memory=NodeMemory(memory_mb=pick(4000, 2000, 1000, 0)),
                disk=NodeDisk(disk_mb=pick(5000, 1000, 0)),
                devices=draw(node_devices(f"n{i}")),
                min_dynamic_port=20000,
                max_dynamic_port=20000 + draw(st.integers(0, 4)),
            ),
            reserved_resources=NodeResources(cpu=NodeCpu(cpu_shares=draw(st.integers(0, 200)))),
            drivers={
                d: DriverInfo(detected=True, healthy=health)
                for d in DRIVERS
                if (health := pick(True, False, None)) is not None
            },
        )
        out.append(
            replace(node, computed_class=compute_class(node)) if draw(st.booleans()) else node
        )
    return out


@st.composite
def node_devices(draw: st.DrawFn, node_id: str) -> list[NodeDeviceResource]:
    """0-3 device groups of 0-4 instances each, some unhealthy; IDs unique per node."""
    kinds = draw(st.lists(st.sampled_from(DEVICE_KINDS), max_size=3, unique=True))
    return [
        NodeDeviceResource(
            vendor=vendor,
            type=type_,
            name=model,
            attributes={"memory": memory},
            instances=[
                NodeDevice(id=f"{node_id}-{model}-{k}", healthy=draw(st.integers(0, 3)) > 0)
                for k in range(draw(st.integers(0, 4)))
            ],
        )
        for vendor, type_, model, memory in kinds
    ]


@st.composite
def device_requests(draw: st.DrawFn) -> list[RequestedDevice]:
    return [
        RequestedDevice(
            name=draw(st.sampled_from(DEVICE_NAMES)),
            count=draw(st.sampled_from([1, 1, 1, 2, 3])),
            constraints=draw(st.lists(st.just(BIG_MEMORY), max_size=1)),
            affinities=draw(st.lists(st.just(LIKE_T4), max_size=1)),
        )
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2])))
    ]


@st.composite
def networks(draw: st.DrawFn) -> list[NetworkResource]:
    """Mostly none; otherwise static ports from a small set and 0-2 dynamic ones."""
    if draw(st.integers(0, 2)) == 0:
        return []
    labels = draw(st.permutations(PORT_LABELS))
    statics = draw(st.lists(st.sampled_from(STATIC_PORTS), max_size=2, unique=True))
    dynamic = draw(st.integers(0, 3 - len(statics)))
    to = draw(st.sampled_from([0, -1, 80]))
    return [
        NetworkResource(
            reserved_ports=[Port(label=labels[k], value=v, to=to) for k, v in enumerate(statics)],
            dynamic_ports=[Port(label=labels[len(statics) + k], to=to) for k in range(dynamic)],
        )
    ]


@st.composite
def groups(draw: st.DrawFn, name: str) -> TaskGroup:
    tasks = [
        Task(
            name=f"t{i}",
            driver=draw(st.sampled_from(DRIVERS)),
            resources=Resources(
                cpu=draw(st.sampled_from([100, 250, 500, 0, 1500])),
                memory_mb=draw(st.sampled_from([100, 250, 500, 0, 1500])),
                disk_mb=draw(st.sampled_from([10, 100, 0])),
                devices=draw(device_requests()),
            ),
            constraints=draw(st.lists(st.sampled_from(CONSTRAINTS[:4]), max_size=1)),
        )
        for i in range(draw(st.integers(1, 2)))
    ]
    cons = draw(st.lists(st.sampled_from(CONSTRAINTS), max_size=1))
    count = draw(st.integers(0, 6))
    return TaskGroup(
        name=name, count=count, tasks=tasks, constraints=cons, networks=draw(networks())
    )


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    names = draw(
        st.lists(st.sampled_from(["web", "api", "db"]), min_size=1, max_size=2, unique=True)
    )
    return Job(
        id="job",
        type=draw(st.sampled_from(["service", "batch"])),
        datacenters=draw(
            st.sampled_from([["*"], ["dc*"], ["dc1", "dc2"], ["dc1"], ["dc2", "dc9"]])
        ),
        constraints=draw(st.lists(st.sampled_from(CONSTRAINTS), max_size=1)),
        task_groups=[draw(groups(n)) for n in names],
    )


class Sim:
    def __init__(self, cluster: list[Node], job: Job) -> None:
        self.store = StateStore()
        self.ids = (f"id{i}" for i in itertools.count())
        self.now = 0
        for node in cluster:
            self.store.apply(RegisterNode(now=self.tick(), node=node))
        self.store.apply(RegisterJob(now=self.tick(), job=job))

    def tick(self) -> int:
        self.now += 1_000_000_000
        return self.now

    def schedule(self, ev: Evaluation, seed: int, now: int = 0) -> tuple[StateView, Plan]:
        snap = self.store.snapshot()
        at = now or self.now
        return snap, schedule(snap, ev, now=at, seed=seed, new_id=lambda: next(self.ids))

    def apply(self, plan: Plan) -> None:
        self.store.apply(ApplyPlan(now=self.tick(), plan=plan))

    def live(self) -> list[Any]:
        return [a for a in self.store.allocs.values() if not a.terminal()]


def check_plan(snap: StateView, plan: Plan) -> None:
    """Every placement is on a usable node, satisfies the group, and fits."""
    job = snap.job_version(plan.namespace, plan.job_id, plan.job_version)
    if plan.placements:
        assert job is not None
    accepted, rejected = planapply.check(snap, plan)
    assert rejected == [] and accepted == plan  # the leader agrees with the scheduler
    usable = {n.id for n in candidates(snap, job)} if job is not None else set()
    stopping = {s.id for s in plan.stops}
    asks: dict[str, list[int]] = {}
    for p in plan.placements:
        assert job is not None
        node, group = snap.nodes[p.node_id], job.group(p.task_group)
        assert group is not None and p.node_id in usable
        assert node.schedulable() and not node.drain
        assert in_datacenters(job.datacenters)(node.datacenter)
        for task in group.tasks:
            assert driver_ok(node, task.driver), (node.drivers, task.driver)
            for con in [*job.constraints, *group.constraints, *task.constraints]:
                if con.operand != "distinct_hosts":
                    assert compile_constraint(con)(node), con.describe()
        check_offer(node, group, p.ports, p.devices)
        res = group.resources()
        ask = asks.setdefault(p.node_id, [0, 0, 0])
        ask[0], ask[1], ask[2] = ask[0] + res.cpu, ask[1] + res.memory_mb, ask[2] + res.disk_mb
    for node_id, ask in asks.items():
        assert not exhausted(free(snap, snap.nodes[node_id], stopping), ask)


def check_offer(node: Node, group: TaskGroup, ports: list[Any], devices: dict[str, Any]) -> None:
    """A placement's ports are its group's, its devices match its requests exactly."""
    want = [p for net in group.networks for p in [*net.reserved_ports, *net.dynamic_ports]]
    assert [p.label for p in ports] == [p.label for p in want]
    res = node.node_resources
    for got, asked in zip(ports, want, strict=True):
        if asked.value:
            assert got.value == asked.value
        else:
            assert res.min_dynamic_port <= got.value <= res.max_dynamic_port
        assert got.to == (got.value if asked.to == -1 else asked.to)
    for task in group.tasks:
        given = devices.get(task.name, [])
        assert len(given) == len(task.resources.devices)
        for dev, req in zip(given, task.resources.devices, strict=True):
            assert len(dev.device_ids) == req.count == len(set(dev.device_ids))
            wanted = req.name.split("/", 2)
            named = {1: [dev.type], 2: [dev.vendor, dev.type], 3: [dev.vendor, dev.type, dev.name]}
            assert named[len(wanted)] == wanted, (req.name, dev)
            if BIG_MEMORY in req.constraints:
                assert dev.name in ("A100", "MI50", "U250"), dev.name  # 20 GiB or more
    assert healthy_keys(node) >= set(device_keys(devices))


def check_unshared(snap: StateView, live: list[Allocation]) -> None:
    """Never two live allocations of a node on one host port or one device instance."""
    for node in snap.nodes.values():
        held = [a for a in live if a.node_id == node.id]
        ports = [p.value for a in held for p in a.allocated_ports]
        assert len(ports) == len(set(ports)), (node.id, ports)
        keys = [k for a in held for k in device_keys(a.allocated_devices)]
        assert len(keys) == len(set(keys)), (node.id, keys)
        assert set(keys) <= healthy_keys(node)


def check_state(sim: Sim) -> None:
    """After applying: counts, capacity, unique names and distinct hosts hold."""
    snap = sim.store.snapshot()
    job = snap.job("default", "job")
    live = [a for a in sim.live() if a.job_id == "job"]
    per_group = Counter(a.task_group for a in live)
    for name, n in per_group.items():
        group = job.group(name) if job is not None and not job.stop else None
        assert group is not None and n <= group.count, (name, n)
    names = Counter(a.name for a in live)
    assert all(n == 1 for n in names.values()), names
    check_unshared(snap, sim.live())
    for node in snap.nodes.values():
        held = [a for a in sim.live() if a.node_id == node.id]
        if not held:
            continue
        total = [sum(a.resources.cpu for a in held), sum(a.resources.memory_mb for a in held)]
        total.append(sum(a.resources.disk_mb for a in held))
        assert not exhausted(capacity(node), total), (node.id, total)
    if job is None:
        return
    for scope in [None, *[g.name for g in job.task_groups]]:
        cons = job.constraints if scope is None else job.group(scope).constraints  # type: ignore[union-attr]
        if not distinct_hosts(cons):
            continue
        mine = [a for a in live if scope is None or a.task_group == scope]
        for node_id, n in Counter(a.node_id for a in mine).items():
            current = [a for a in mine if a.node_id == node_id and a.job_version == job.version]
            assert n == 1 or not current, (scope, node_id)


def run_round(sim: Sim, ev: Evaluation, seed: int) -> Plan:
    now = sim.now
    snap, plan = sim.schedule(ev, seed)
    check_plan(snap, plan)
    assert plan.eval_update is not None and plan.eval_update.id == ev.id
    sim.apply(plan)
    check_state(sim)
    # again at the same time: a reschedule that fell due meanwhile would be a real change
    _, again = sim.schedule(ev, seed + 1, now=now)
    assert again.is_noop(), (again.placements, again.stops)
    follow_ups = [e for e in again.new_evals if e.triggered_by == "failed-follow-up"]
    assert not follow_ups, follow_ups  # the first run's follow-up is found, not repeated
    return plan


@PROPS
@given(cluster=nodes(), job=jobs(), seed=st.integers(0, 2**32), data=st.data())
def test_schedule_is_safe_and_idempotent_through_cluster_events(
    cluster: list[Node], job: Job, seed: int, data: st.DataObject
) -> None:
    sim = Sim(cluster, job)
    ev = Evaluation(id="ev1", job_id="job", type=job.type)
    run_round(sim, ev, seed)
    for step in range(data.draw(st.integers(1, 3))):
        perturb(sim, cluster, job, data)
        run_round(sim, Evaluation(id=f"ev-{step}", job_id="job", type=job.type), seed + step)


def perturb(sim: Sim, cluster: list[Node], job: Job, data: st.DataObject) -> None:
    """One cluster event: a node changes, a client reports, or the job changes."""
    kind = data.draw(st.sampled_from(["node", "client", "job", "stop", "purge"]))
    node_id = data.draw(st.sampled_from([n.id for n in cluster]))
    now = sim.tick()
    if kind == "node":
        if data.draw(st.booleans()):
            status = data.draw(st.sampled_from(["down", "ready", "disconnected"]))
            sim.store.apply(UpdateNodeStatus(now=now, node_id=node_id, status=status))
        else:
            elig = data.draw(st.sampled_from(["eligible", "ineligible"]))
            sim.store.apply(UpdateNodeEligibility(now=now, node_id=node_id, eligibility=elig))
    elif kind == "client":
        live = sorted(a.id for a in sim.live())
        if live:
            alloc_id = data.draw(st.sampled_from(live))
            status = data.draw(st.sampled_from(["running", "failed", "complete"]))
            update = AllocClientUpdate(id=alloc_id, client_status=status)
            sim.store.apply(UpdateAllocsFromClient(now=now, updates=[update]))
    elif kind == "job":
        changed = data.draw(jobs())
        sim.store.apply(RegisterJob(now=now, job=replace(changed, type=job.type)))
    else:
        sim.store.apply(
            DeregisterJob(now=now, namespace="default", job_id="job", purge=kind == "purge")
        )


@PROPS
@given(cluster=nodes(), job=jobs(), seed=st.integers(0, 2**32))
def test_a_job_that_fits_nowhere_explains_every_node(
    cluster: list[Node], job: Job, seed: int
) -> None:
    impossible = Constraint(ltarget="${attr.kernel.name}", rtarget="plan9")
    huge = Resources(cpu=10_000, memory_mb=1, disk_mb=1)
    groups_ = []
    for i, group in enumerate(job.task_groups):
        if i % 2 == 0:  # alternate the reason: a constraint, or a resource dimension
            group = replace(group, constraints=[*group.constraints, impossible])
        else:
            group = replace(group, tasks=[replace(group.tasks[0], resources=huge)])
        groups_.append(replace(group, count=max(group.count, 1)))
    job = replace(job, task_groups=groups_)
    sim = Sim(cluster, job)
    ev = Evaluation(id="ev1", job_id="job", type=job.type)
    snap, plan = sim.schedule(ev, seed)
    assert plan.placements == [] and plan.eval_update is not None
    upd = plan.eval_update
    pool = len(candidates(snap, snap.job("default", "job")))  # type: ignore[arg-type]
    assert set(upd.failed_tg_allocs) == {g.name for g in job.task_groups}
    for group in job.task_groups:
        metric = upd.failed_tg_allocs[group.name]
        assert upd.queued_allocations[group.name] == group.count
        assert metric.coalesced_failures == group.count - 1
        assert metric.nodes_evaluated == pool
        explained = sum(metric.constraint_filtered.values()) + sum(
            metric.dimension_exhausted.values()
        )
        assert explained == pool
        assert metric.nodes_filtered == sum(metric.constraint_filtered.values())
        assert metric.nodes_exhausted == sum(metric.dimension_exhausted.values())
    (blocked,) = plan.new_evals
    assert blocked.status == "blocked" and upd.blocked_eval == blocked.id
