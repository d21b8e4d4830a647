"""A large state for the benchmarks that measure one agent's HTTP app over an in-memory
server (``api_throughput.py``, ``ui_render.py``): nodes, jobs and allocations written
through the server's log (RegisterJob without evaluations, ApplyPlan with placements),
so nothing is scheduled while the figures are taken; and the app served by uvicorn on
127.0.0.1."""

from __future__ import annotations

import threading
import time
import uuid

import uvicorn
from agents import free_port

from gitorch.core import commands as c
from gitorch.core.model import (
    DriverInfo,
    Job,
    Node,
    NodeCpu,
    NodeDisk,
    NodeMemory,
    NodeResources,
    Placement,
    Plan,
    Resources,
    Task,
    TaskGroup,
)
from gitorch.server.server import Server


def register_nodes(
    server: Server, nodes: int, *, cpu: int, memory_mb: int, disk_mb: int, datacenters: int = 1
) -> list[str]:
    """Registers ``nodes`` raw_exec nodes of the same size, named ``node-0000``… and
    spread round-robin over ``dc1``… ``dc<datacenters>``; returns their IDs."""
    node_ids = [str(uuid.UUID(int=i + 1)) for i in range(nodes)]
    res = NodeResources(
        cpu=NodeCpu(cpu_shares=cpu), memory=NodeMemory(memory_mb=memory_mb),
        disk=NodeDisk(disk_mb=disk_mb),
    )  # fmt: skip
    for i, node_id in enumerate(node_ids):
        server.register_node(
            Node(id=node_id, name=f"node-{i:04d}", datacenter=f"dc{i % datacenters + 1}",
                 node_resources=res, status="ready",
                 drivers={"raw_exec": DriverInfo(detected=True, healthy=True)})
        )  # fmt: skip
    return node_ids


def register_job(server: Server, job_id: str, count: int, *, cpu: int, memory_mb: int) -> None:
    """Registers a job of one group ``g`` of ``count`` raw_exec tasks ``t``, with no
    evaluation."""
    task = Task(name="t", driver="raw_exec", resources=Resources(cpu=cpu, memory_mb=memory_mb))
    job = Job(id=job_id, task_groups=[TaskGroup(name="g", count=count, tasks=[task])])
    server.log.submit(c.RegisterJob(now=time.time_ns(), job=job))


def place(server: Server, job_id: str, slots: list[tuple[int, str]]) -> None:
    """Applies one plan placing the job's group ``g`` allocations: a ``(index, node ID)``
    pair each."""
    placements = [
        Placement(id=str(uuid.uuid4()), task_group="g", index=index, node_id=node_id)
        for index, node_id in slots
    ]
    plan = Plan(eval_id=str(uuid.uuid4()), job_id=job_id, placements=placements)
    server.log.submit(c.ApplyPlan(now=time.time_ns(), plan=plan))


def serve(app: object) -> tuple[uvicorn.Server, str]:
    """Serves ``app`` on a free port of 127.0.0.1 from a daemon thread; returns the
    uvicorn server (set ``should_exit`` to stop it) and the base URL."""
    port = free_port()
    http = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    )
    threading.Thread(target=http.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not http.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return http, f"http://127.0.0.1:{port}"
