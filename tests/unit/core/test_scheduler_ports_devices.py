"""Ports and devices in schedule() and planapply.check, on a real StateStore."""

from __future__ import annotations

import itertools

import pytest

from gitorch.core import planapply
from gitorch.core.commands import ApplyPlan, RegisterJob, RegisterNode
from gitorch.core.model import (
    Affinity,
    AllocatedDevice,
    AllocatedPort,
    Constraint,
    DriverInfo,
    Evaluation,
    Job,
    NetworkResource,
    Node,
    NodeCpu,
    NodeDevice,
    NodeDeviceResource,
    NodeMemory,
    NodeResources,
    Placement,
    Plan,
    Port,
    RequestedDevice,
    Resources,
    Task,
    TaskGroup,
    replace,
)
from gitorch.core.scheduler import schedule
from gitorch.core.scheduler.devices import (
    compare,
    compile_check,
    matches,
    parse_name,
    parse_quantity,
)
from gitorch.core.scheduler.network import DYNAMIC_FAILED
from gitorch.core.state import StateStore


def gpus(
    model: str, *ids: str, memory: str = "16 GiB", sick: tuple[str, ...] = ()
) -> NodeDeviceResource:
    return NodeDeviceResource(
        vendor="nvidia",
        type="gpu",
        name=model,
        instances=[NodeDevice(id=i, healthy=i not in sick) for i in ids],
        attributes={"memory": memory, "cuda_driver": "470.82.01"},
    )


def make_node(node_id: str, *devices: NodeDeviceResource, **kw: object) -> Node:
    base = Node(
        id=node_id,
        name=node_id,
        status="ready",
        attributes={"unique.network.ip-address": f"10.0.0.{ord(node_id[-1]) % 250}"},
        node_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=4000),
            memory=NodeMemory(memory_mb=4000),
            devices=list(devices),
            min_dynamic_port=20000,
            max_dynamic_port=20009,
        ),
        drivers={"exec": DriverInfo(detected=True, healthy=True)},
    )
    return replace(base, **kw)


def make_job(
    count: int = 1,
    static: tuple[Port, ...] = (),
    dynamic: tuple[Port, ...] = (),
    devices: tuple[RequestedDevice, ...] = (),
    job_id: str = "web",
) -> Job:
    task = Task(
        name="t", driver="exec", resources=Resources(cpu=100, memory_mb=100, devices=list(devices))
    )
    nets = [NetworkResource(reserved_ports=list(static), dynamic_ports=list(dynamic))]
    group = TaskGroup(
        name="g", count=count, tasks=[task], networks=nets if static or dynamic else []
    )
    return Job(id=job_id, task_groups=[group])


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

    def register(self, job: Job) -> Evaluation:
        ev = Evaluation(id=next(self.ids), job_id=job.id, type=job.type)
        self.store.apply(RegisterJob(now=self.tick(), job=job, eval=ev))
        return ev

    def plan(self, ev: Evaluation, seed: int = 7) -> Plan:
        snap = self.store.snapshot()
        return schedule(snap, ev, now=self.now, seed=seed, new_id=lambda: next(self.ids))

    def run(self, ev: Evaluation, seed: int = 7) -> Plan:
        plan = self.plan(ev, seed)
        accepted, rejected = planapply.check(self.store.snapshot(), plan)
        assert rejected == []
        self.store.apply(ApplyPlan(now=self.tick(), plan=accepted))
        return plan


HTTP = Port(label="http", value=8080, to=80)


# -- units and device matching ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 GiB", (2 * 2**30, "bytes")),
        ("11 GB", (11e9, "bytes")),
        ("1.5 GHz", (1.5e9, "hertz")),
        ("250W", (250.0, "watts")),
        ("100 MB/s", (1e8, "bytes/s")),
        ("4", (4.0, "")),
        ("Tesla T4", None),
        ("3 parsecs", None),
    ],
)
def test_parse_quantity(text: str, expected: tuple[float, str] | None) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("11 GiB", "2 GiB", 1),
        ("2048 MiB", "2 GiB", 0),
        ("11 GB", "11 GiB", -1),
        ("1500 MHz", "1.5 GHz", 0),
        ("470.82.01", "470.5", 1),
        ("v1.2.3", "1.10.0", -1),
        ("4", "10", -1),
        ("Tesla T4", "Tesla T4", 0),
        ("2 GiB", "2", None),
        ("2 GiB", "2 GHz", None),
        ("2 GiB", "lots", None),
    ],
)
def test_compare_attributes(left: str, right: str, expected: int | None) -> None:
    assert compare(left, right) == expected


def test_request_names_match_type_vendor_and_model() -> None:
    t4 = gpus("Tesla T4", "g0")
    assert parse_name("gpu") == ("", "gpu", "")
    assert parse_name("nvidia/gpu/Tesla T4") == ("nvidia", "gpu", "Tesla T4")
    for name, hit in [
        ("gpu", True),
        ("nvidia/gpu", True),
        ("nvidia/gpu/Tesla T4", True),
        ("amd/gpu", False),
        ("nvidia/gpu/A100", False),
        ("fpga", False),
    ]:
        assert matches(parse_name(name), t4) is hit, name


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (Constraint(ltarget="${device.attr.memory}", operand=">=", rtarget="2 GiB"), True),
        (Constraint(ltarget="${device.attr.memory}", operand="<", rtarget="11 GB"), False),
        (Constraint(ltarget="${device.attr.memory}", operand="=", rtarget="16384 MiB"), True),
        (Constraint(ltarget="${device.model}", rtarget="Tesla T4"), True),
        (Constraint(ltarget="${device.vendor}", operand="!=", rtarget="nvidia"), False),
        (Constraint(ltarget="${device.type}", operand="regexp", rtarget="^g"), True),
        (
            Constraint(ltarget="${device.attr.cuda_driver}", operand="version", rtarget=">= 470"),
            True,
        ),
        (Constraint(ltarget="${device.attr.nope}", operand="is_not_set"), True),
        (Constraint(ltarget="${device.ids}", operand="set_contains", rtarget="g1"), True),
        (Affinity(ltarget="${device.attr.memory}", operand=">", rtarget="lots"), False),
    ],
)
def test_device_constraints(rule: Constraint | Affinity, expected: bool) -> None:
    assert compile_check(rule)(gpus("Tesla T4", "g0", "g1")) is expected


# -- ports ----------------------------------------------------------------------------


def test_a_static_port_keeps_allocations_apart_and_explains_the_third() -> None:
    c = Cluster(make_node("a"), make_node("b"))
    plan = c.run(c.register(make_job(count=3, static=(HTTP,))))
    assert sorted(p.node_id for p in plan.placements) == ["a", "b"]
    for p in plan.placements:
        ip = c.store.nodes[p.node_id].attributes["unique.network.ip-address"]
        assert p.ports == [AllocatedPort(label="http", value=8080, to=80, host_ip=ip)]
    assert plan.eval_update is not None
    metric = plan.eval_update.failed_tg_allocs["g"]
    assert metric.dimension_exhausted == {"network: reserved port collision http=8080": 2}
    assert plan.eval_update.queued_allocations == {"g": 1}
    allocs = c.store.allocs_for_job("default", "web")
    assert [list(a.allocated_ports) for a in allocs] == [p.ports for p in plan.placements]


def test_another_job_cannot_take_a_held_static_port() -> None:
    c = Cluster(make_node("a"))
    c.run(c.register(make_job(static=(HTTP,))))
    plan = c.plan(c.register(make_job(static=(HTTP,), job_id="other")))
    assert plan.placements == [] and plan.eval_update is not None
    reasons = plan.eval_update.failed_tg_allocs["g"].dimension_exhausted
    assert reasons == {"network: reserved port collision http=8080": 1}


def test_dynamic_ports_are_distinct_in_range_and_seeded() -> None:
    c = Cluster(make_node("a"))
    job = make_job(count=3, dynamic=(Port(label="db"), Port(label="same", to=-1)))
    ev = c.register(job)
    first, again = c.plan(ev, seed=11), c.plan(ev, seed=11)
    assert [p.ports for p in first.placements] == [p.ports for p in again.placements]
    values = [port.value for p in first.placements for port in p.ports]
    assert len(values) == 6 == len(set(values))
    assert all(20000 <= v <= 20009 for v in values)
    for p in first.placements:
        db, same = p.ports
        assert (db.label, db.to, db.host_ip) == ("db", 0, "10.0.0.97")
        assert (same.label, same.to) == ("same", same.value)


def test_dynamic_range_exhaustion_is_explained() -> None:
    c = Cluster(make_node("a"))
    job = make_job(count=6, dynamic=(Port(label="x"), Port(label="y")))
    plan = c.run(c.register(job))
    assert len(plan.placements) == 5  # ten ports, two each
    assert plan.eval_update is not None
    assert plan.eval_update.failed_tg_allocs["g"].dimension_exhausted == {DYNAMIC_FAILED: 1}


def test_a_static_port_inside_the_dynamic_range_is_never_handed_out_again() -> None:
    c = Cluster(make_node("a"))
    c.run(c.register(make_job(static=(Port(label="fixed", value=20003),))))
    plan = c.run(c.register(make_job(count=10, dynamic=(Port(label="d"),), job_id="more")))
    values = sorted(p.ports[0].value for p in plan.placements)
    assert values == [v for v in range(20000, 20010) if v != 20003]
    assert plan.eval_update is not None
    assert plan.eval_update.failed_tg_allocs["g"].dimension_exhausted == {DYNAMIC_FAILED: 1}


def test_loopback_when_the_node_has_no_address() -> None:
    c = Cluster(make_node("a", attributes={}))
    plan = c.plan(c.register(make_job(static=(HTTP,))))
    assert plan.placements[0].ports[0].host_ip == "127.0.0.1"


def test_a_destructive_update_reuses_its_own_static_port() -> None:
    c = Cluster(make_node("a"))
    first = c.run(c.register(make_job(static=(HTTP,))))
    changed = make_job(static=(Port(label="http", value=8080, to=8080),))
    plan = c.run(c.register(changed))
    assert [s.id for s in plan.stops] == [first.placements[0].id]
    assert plan.placements[0].ports[0].value == 8080


def test_an_update_waits_for_a_later_update_to_free_its_port() -> None:
    c = Cluster(make_node("a"), make_node("b"))
    plain, ported = make_job(count=2), make_job(count=1, static=(HTTP,))
    v0 = replace(
        plain,
        task_groups=[
            replace(plain.task_groups[0], name="db"),
            replace(ported.task_groups[0], name="web"),
        ],
    )
    c.run(c.register(v0))
    # the ports swap groups: db needs 8080 on both nodes, one held by web until replaced
    v1 = replace(
        v0,
        task_groups=[
            replace(ported.task_groups[0], name="db", count=2),
            replace(plain.task_groups[0], name="web", count=1),
        ],
    )
    plan = c.run(c.register(v1))
    assert plan.eval_update is not None and plan.eval_update.failed_tg_allocs == {}
    assert sorted((p.task_group, p.node_id) for p in plan.placements if p.ports) == [
        ("db", "a"),
        ("db", "b"),
    ]
    assert len(plan.stops) == 3
    assert c.plan(Evaluation(id="again", job_id="web")).is_noop()


def test_a_host_network_other_than_default_filters_every_node() -> None:
    c = Cluster(make_node("a"))
    port = Port(label="http", value=80, host_network="public")
    plan = c.plan(c.register(make_job(static=(port,))))
    assert plan.eval_update is not None
    metric = plan.eval_update.failed_tg_allocs["g"]
    assert metric.constraint_filtered == {'missing host network "public" for port "http"': 1}


# -- devices --------------------------------------------------------------------------


def test_devices_land_where_they_exist_with_their_ids() -> None:
    c = Cluster(make_node("plain"), make_node("gpu", gpus("Tesla T4", "g0", "g1")))
    plan = c.run(c.register(make_job(devices=(RequestedDevice(name="nvidia/gpu", count=2),))))
    (p,) = plan.placements
    assert p.node_id == "gpu"
    assert p.devices == {
        "t": [
            AllocatedDevice(vendor="nvidia", type="gpu", name="Tesla T4", device_ids=["g0", "g1"])
        ]
    }
    (alloc,) = c.store.allocs_for_job("default", "web")
    assert alloc.allocated_devices == p.devices


def test_too_many_devices_block_with_the_device_reason() -> None:
    c = Cluster(make_node("plain"), make_node("gpu", gpus("Tesla T4", "g0", "g1")))
    plan = c.plan(c.register(make_job(devices=(RequestedDevice(name="nvidia/gpu", count=3),))))
    assert plan.placements == [] and plan.eval_update is not None
    metric = plan.eval_update.failed_tg_allocs["g"]
    assert metric.dimension_exhausted == {"devices: nvidia/gpu": 2}
    assert metric.nodes_exhausted == 2 and len(plan.new_evals) == 1


def test_held_and_unhealthy_instances_are_not_free() -> None:
    c = Cluster(make_node("gpu", gpus("Tesla T4", "g0", "g1", "g2", sick=("g1",))))
    one = (RequestedDevice(name="gpu"),)
    first = c.run(c.register(make_job(count=3, devices=one)))
    ids = [d.device_ids for p in first.placements for d in p.devices["t"]]
    assert ids == [["g0"], ["g2"]]
    assert first.eval_update is not None
    assert first.eval_update.failed_tg_allocs["g"].dimension_exhausted == {"devices: gpu": 1}


def test_constraints_and_affinities_choose_the_device_group() -> None:
    small = gpus("GTX 1050", "s0", memory="2 GiB")
    t4 = gpus("Tesla T4", "t0", memory="16 GiB")
    a100 = gpus("A100", "x0", memory="80 GiB")
    c = Cluster(make_node("a", small, t4, a100))
    roomy = Constraint(ltarget="${device.attr.memory}", operand=">=", rtarget="11 GB")
    like_a100 = Affinity(ltarget="${device.model}", rtarget="A100", weight=60)
    dev = RequestedDevice(name="nvidia/gpu", count=1, constraints=[roomy], affinities=[like_a100])
    plan = c.plan(c.register(make_job(devices=(dev,))))
    assert plan.placements[0].devices["t"][0].device_ids == ["x0"]
    without = replace(dev, affinities=[])
    plan = c.plan(c.register(make_job(devices=(without,), job_id="plain")))
    assert plan.placements[0].devices["t"][0].device_ids == ["t0"]  # first that fits


def test_device_affinity_steers_the_node_choice() -> None:
    for preferred in ("A100", "Tesla T4"):
        c = Cluster(make_node("a", gpus("A100", "a0")), make_node("b", gpus("Tesla T4", "b0")))
        like = Affinity(ltarget="${device.model}", rtarget=preferred, weight=100)
        job = make_job(devices=(RequestedDevice(name="gpu", affinities=[like]),))
        for seed in range(5):
            plan = c.plan(c.register(job), seed=seed)
            assert plan.placements[0].node_id == ("a" if preferred == "A100" else "b")


def test_two_tasks_share_a_device_group_without_sharing_instances() -> None:
    c = Cluster(make_node("a", gpus("Tesla T4", "g0", "g1", "g2")))
    job = make_job(devices=(RequestedDevice(name="gpu"),))
    group = job.task_groups[0]
    second = replace(
        group.tasks[0],
        name="u",
        resources=replace(group.tasks[0].resources, devices=[RequestedDevice(name="gpu", count=2)]),
    )
    job = replace(job, task_groups=[replace(group, tasks=[group.tasks[0], second])])
    (p,) = c.plan(c.register(job)).placements
    assert p.devices["t"][0].device_ids == ["g0"] and p.devices["u"][0].device_ids == ["g1", "g2"]


# -- the plan applier -----------------------------------------------------------------


def test_planapply_rejects_a_port_taken_since_the_snapshot() -> None:
    c = Cluster(make_node("a"))
    ev1, ev2 = (
        c.register(make_job(static=(HTTP,))),
        c.register(make_job(static=(HTTP,), job_id="b")),
    )
    stale = c.store.snapshot()
    p1 = c.plan(ev1)
    p2 = schedule(stale, ev2, now=c.now, seed=3, new_id=lambda: "late")
    c.store.apply(ApplyPlan(now=c.tick(), plan=p1))
    accepted, rejected = planapply.check(c.store.snapshot(), p2)
    assert rejected == p2.placements and accepted.placements == []


def test_planapply_rejects_shared_unknown_or_unhealthy_device_ids() -> None:
    c = Cluster(make_node("a", gpus("Tesla T4", "g0", "g1", sick=("g1",))))
    c.register(make_job(devices=(RequestedDevice(name="gpu"),)))
    snap = c.store.snapshot()

    def placing(*ids: str, index: int = 0, pid: str = "p") -> Placement:
        dev = AllocatedDevice(vendor="nvidia", type="gpu", name="Tesla T4", device_ids=list(ids))
        return Placement(id=pid, task_group="g", index=index, node_id="a", devices={"t": [dev]})

    def verdict(*placements: Placement) -> bool:
        plan = Plan(eval_id="e", job_id="web", placements=list(placements))
        return not planapply.check(snap, plan)[1]

    assert verdict(placing("g0"))
    assert not verdict(placing("g1"))  # unhealthy
    assert not verdict(placing("g9"))  # not on the node
    assert not verdict(placing("g0"), placing("g0", index=1, pid="q"))  # twice in one plan


def test_planapply_accepts_a_port_the_plan_itself_frees() -> None:
    c = Cluster(make_node("a"))
    first = c.run(c.register(make_job(static=(HTTP,))))
    changed = make_job(static=(Port(label="http", value=8080, to=81),))
    plan = c.plan(c.register(changed))
    assert [s.id for s in plan.stops] == [first.placements[0].id]
    assert planapply.check(c.store.snapshot(), plan)[1] == []
    without_stop = replace(plan, stops=[])
    assert planapply.check(c.store.snapshot(), without_stop)[1] == without_stop.placements
