"""Ports and devices through a real server (broker, workers, scheduler, plan applier,
state store): two nodes registered as plain model values, one with two fake GPUs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import wait_for

from gitorch.core.model import (
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
    Port,
    RequestedDevice,
    Resources,
    Task,
    TaskGroup,
)
from gitorch.server.server import Server

pytestmark = pytest.mark.timeout(60)

COLLISION = "network: reserved port collision http=8080"


def make_node(node_id: str, ip: str, *devices: NodeDeviceResource) -> Node:
    return Node(
        id=node_id,
        name=node_id,
        attributes={"unique.network.ip-address": ip, "kernel.name": "linux"},
        node_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=8000),
            memory=NodeMemory(memory_mb=8000),
            devices=list(devices),
        ),
        drivers={"mock": DriverInfo(detected=True, healthy=True)},
    )


GPUS = NodeDeviceResource(
    vendor="nvidia",
    type="gpu",
    name="Tesla T4",
    instances=[NodeDevice(id="GPU-aaaa"), NodeDevice(id="GPU-bbbb")],
    attributes={"memory": "16 GiB"},
)


def job(job_id: str, count: int, *, networks: list[NetworkResource] | None = None,
        devices: list[RequestedDevice] | None = None) -> Job:  # fmt: skip
    task = Task(
        name="t",
        driver="mock",
        config={"run_for": "300s"},
        resources=Resources(cpu=100, memory_mb=64, devices=devices or []),
    )
    group = TaskGroup(name="g", count=count, tasks=[task], networks=networks or [])
    return Job(id=job_id, task_groups=[group])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server.in_memory(tmp_path / "server", heartbeat_ttl_s=60, heartbeat_grace_s=60)
    try:
        s.register_node(make_node("plain", "10.0.0.1"))
        s.register_node(make_node("gpu", "10.0.0.2", GPUS))
        yield s
    finally:
        s.stop()


def run(server: Server, j: Job) -> Evaluation:
    """Register ``j`` and wait (bounded) for its evaluation to finish."""
    eval_id = server.register_job(j).eval_id
    found: Evaluation = wait_for(
        lambda: (e := server.state.evals.get(eval_id)) is not None and e.terminal() and e,
        10,
        f"the evaluation of {j.id} to finish",
    )
    return found


def wait_blocked(server: Server, job_id: str) -> None:
    """The job waits in a blocked evaluation for capacity to change."""
    wait_for(
        lambda: any(e.status == "blocked" for e in server.state.evals_for_job("default", job_id)),
        10,
        f"a blocked evaluation of {job_id}",
    )


def live(server: Server, job_id: str) -> list[object]:
    return [a for a in server.state.allocs_for_job("default", job_id) if not a.terminal()]


def test_static_ports_keep_allocations_apart_and_the_third_waits(server: Server) -> None:
    http = NetworkResource(reserved_ports=[Port(label="http", value=8080, to=80)])
    ev = run(server, job("web", 3, networks=[http]))
    allocs = server.state.allocs_for_job("default", "web")
    assert sorted(a.node_id for a in allocs) == ["gpu", "plain"]
    for a in allocs:
        (port,) = a.allocated_ports
        assert (port.label, port.value, port.to) == ("http", 8080, 80)
        assert port.host_ip == {"plain": "10.0.0.1", "gpu": "10.0.0.2"}[a.node_id]
    metric = ev.failed_tg_allocs["g"]
    assert metric.dimension_exhausted == {COLLISION: 2}
    assert ev.queued_allocations == {"g": 1} and ev.blocked_eval
    wait_blocked(server, "web")

    # dynamic ports of another job: distinct on each node, never 8080
    dyn = NetworkResource(dynamic_ports=[Port(label="db"), Port(label="admin", to=-1)])
    run(server, job("dyn", 6, networks=[dyn]))
    placed = server.state.allocs_for_job("default", "dyn")
    assert len(placed) == 6
    for node_id in ("plain", "gpu"):
        values = [
            p.value
            for a in server.state.allocs_for_job("default", "web") + placed
            if a.node_id == node_id
            for p in a.allocated_ports
        ]
        assert len(values) == len(set(values)), (node_id, values)
    for a in placed:
        db, admin = a.allocated_ports
        assert 20000 <= db.value <= 32000 and db.to == 0
        assert admin.to == admin.value

    # still two web allocations: the third stays queued with the port reason
    assert len(live(server, "web")) == 2
    explained = [e for e in server.state.evals_for_job("default", "web") if e.failed_tg_allocs]
    assert COLLISION in explained[-1].failed_tg_allocs["g"].dimension_exhausted
    wait_blocked(server, "web")


def test_devices_land_on_the_node_that_has_them(server: Server) -> None:
    want = RequestedDevice(name="nvidia/gpu", count=2)
    ev = run(server, job("train", 1, devices=[want]))
    assert ev.failed_tg_allocs == {}
    (alloc,) = server.state.allocs_for_job("default", "train")
    assert alloc.node_id == "gpu"
    (dev,) = alloc.allocated_devices["t"]
    assert (dev.vendor, dev.type, dev.name) == ("nvidia", "gpu", "Tesla T4")
    assert sorted(dev.device_ids) == ["GPU-aaaa", "GPU-bbbb"]


def test_asking_for_more_devices_than_exist_blocks_with_the_reason(server: Server) -> None:
    ev = run(server, job("greedy", 1, devices=[RequestedDevice(name="nvidia/gpu", count=3)]))
    metric = ev.failed_tg_allocs["g"]
    assert metric.dimension_exhausted == {"devices: nvidia/gpu": 2}
    assert ev.queued_allocations == {"g": 1} and ev.blocked_eval
    assert server.state.allocs_for_job("default", "greedy") == []
    wait_blocked(server, "greedy")
