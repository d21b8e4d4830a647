"""Pure scheduler speed: one 1,000-allocation service job on 1,000 and 10,000 nodes.

Times ``gitorch.core.scheduler.schedule`` alone (no Raft, no plan apply) on a snapshot
of a real ``StateStore``. Each case runs twice: nodes whose ``computed_class`` the
server stored at registration (as Nomad does), and nodes without one (the scheduler
computes class keys itself during the evaluation). Prints one JSON object per case.

``--ask ports`` gives the group a static and a dynamic port; ``--ask devices`` gives
every node four GPUs and the task a request for one, with a constraint and an affinity.

    python benchmarks/scheduler_placements.py [--repeat 5] [--nodes 1000,10000] \
        [--ask plain|ports|devices]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid

from gitorch.core.commands import RegisterJob, RegisterNode
from gitorch.core.model import (
    Affinity,
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
    Port,
    RequestedDevice,
    Resources,
    Task,
    TaskGroup,
    replace,
)
from gitorch.core.model.node import compute_class
from gitorch.core.scheduler import schedule
from gitorch.core.state import StateStore

PLACEMENTS = 1000


def gpus(i: int) -> list[NodeDeviceResource]:
    model = "Tesla T4" if i % 2 else "A100"
    return [
        NodeDeviceResource(
            vendor="nvidia",
            type="gpu",
            name=model,
            instances=[NodeDevice(id=f"GPU-{i}-{k}") for k in range(4)],
            attributes={"memory": "16 GiB" if i % 2 else "80 GiB"},
        )
    ]


def make_node(i: int, *, precomputed: bool, ask: str = "plain") -> Node:
    node = Node(
        id=str(uuid.UUID(int=i + 1)),
        name=f"node-{i}",
        datacenter=f"dc{i % 3 + 1}",
        node_class=f"class-{i % 4}",
        status="ready",
        attributes={
            "kernel.name": "linux",
            "kernel.version": "6.1.0",
            "os.name": "debian",
            "os.version": "12",
            "cpu.arch": "amd64",
            "cpu.numcores": "16",
            "cpu.totalcompute": "40000",
            "memory.totalbytes": str(64 << 30),
            "driver.docker": "1",
            "driver.exec": "1",
            "nomad.version": "1.8.0",
            "unique.hostname": f"node-{i}",
            "unique.network.ip-address": f"10.0.{i // 256}.{i % 256}",
            "unique.storage.volume": "/dev/sda1",
        },
        meta={"rack": f"r{i % 20}"},
        node_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=40000),
            memory=NodeMemory(memory_mb=65536),
            disk=NodeDisk(disk_mb=500_000),
            devices=gpus(i) if ask == "devices" else [],
        ),
        reserved_resources=NodeResources(cpu=NodeCpu(cpu_shares=500)),
        drivers={
            "docker": DriverInfo(detected=True, healthy=True),
            "exec": DriverInfo(detected=True, healthy=True),
        },
    )
    return replace(node, computed_class=compute_class(node)) if precomputed else node


def make_job(ask: str = "plain") -> Job:
    devices = []
    if ask == "devices":
        roomy = Constraint(ltarget="${device.attr.memory}", operand=">=", rtarget="8 GiB")
        like = Affinity(ltarget="${device.model}", rtarget="A100", weight=50)
        devices = [RequestedDevice(name="nvidia/gpu", constraints=[roomy], affinities=[like])]
    task = Task(
        name="web",
        driver="docker",
        resources=Resources(cpu=250, memory_mb=256, disk_mb=100, devices=devices),
        constraints=[Constraint(ltarget="${attr.cpu.arch}", rtarget="amd64")],
    )
    networks = []
    if ask == "ports":
        networks = [
            NetworkResource(
                reserved_ports=[Port(label="http", value=8080)], dynamic_ports=[Port(label="db")]
            )
        ]
    group = TaskGroup(name="web", count=PLACEMENTS, tasks=[task], networks=networks)
    return Job(
        id="bench",
        datacenters=["dc*"],
        constraints=[Constraint(ltarget="${attr.kernel.name}", rtarget="linux")],
        task_groups=[group],
    )


def run_case(nodes: int, *, precomputed: bool, repeat: int, ask: str) -> dict[str, object]:
    store = StateStore()
    for i in range(nodes):
        store.apply(RegisterNode(now=1, node=make_node(i, precomputed=precomputed, ask=ask)))
    ev = Evaluation(id=str(uuid.uuid4()), job_id="bench")
    store.apply(RegisterJob(now=2, job=make_job(ask), eval=ev))
    snap = store.snapshot()
    times: list[float] = []
    for _ in range(repeat):
        ids = [str(uuid.uuid4()) for _ in range(PLACEMENTS + 1)]
        start = time.perf_counter()
        plan = schedule(snap, ev, now=3, seed=42, new_id=iter(ids).__next__)
        times.append(time.perf_counter() - start)
        assert len(plan.placements) == PLACEMENTS, plan.eval_update
    seconds = min(times)  # the machine is shared: the best run is the code's speed
    return {
        "nodes": nodes,
        "placements": PLACEMENTS,
        "seconds": round(seconds, 5),
        "placements_per_s": round(PLACEMENTS / seconds),
        "median_seconds": round(statistics.median(times), 5),
        "computed_class": "stored" if precomputed else "per-eval",
        "ask": ask,
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--nodes", default="1000,10000")
    parser.add_argument("--ask", choices=("plain", "ports", "devices"), default="plain")
    args = parser.parse_args(argv)
    for nodes in (int(n) for n in args.nodes.split(",")):
        for precomputed in (True, False):
            case = run_case(nodes, precomputed=precomputed, repeat=args.repeat, ask=args.ask)
            print(json.dumps(case))


if __name__ == "__main__":
    main(sys.argv[1:])
