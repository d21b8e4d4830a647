"""A real server (scheduler, broker, plan applier, heartbeats) with two real clients
running the mock driver: node loss, jobs that fit nowhere, unknown drivers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import wait_for

from gitorch.agent.client import Client, ClientOptions
from gitorch.agent.localconn import LocalConn
from gitorch.core.model import Constraint, Job, Resources, Task, TaskGroup
from gitorch.plugins.builtin.mock import MockDriver
from gitorch.server.server import Server

pytestmark = pytest.mark.timeout(60)


def mock_job(job_id: str, count: int = 2, **task: object) -> Job:
    t = Task(
        name="t",
        driver=str(task.pop("driver", "mock")),
        config={"run_for": "300s"},
        resources=Resources(cpu=100, memory_mb=64),
        **task,
    )
    return Job(id=job_id, task_groups=[TaskGroup(name="g", count=count, tasks=[t])])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server.in_memory(tmp_path / "server", heartbeat_ttl_s=0.5, heartbeat_grace_s=0.5)
    try:
        yield s
    finally:
        s.stop()


def start_client(server: Server, data_dir: Path, name: str) -> Client:
    client = Client(
        LocalConn(server),
        ClientOptions(data_dir=data_dir, name=name, alloc_wait_s=0.5),
        drivers={"mock": MockDriver()},
    )
    client.start()
    wait_for(lambda: server.state.nodes.get(client.node_id), 10, f"{name} registered")
    return client


def live(server: Server, job_id: str) -> list[str]:
    return [
        a.node_id
        for a in server.state.allocs_for_job("default", job_id)
        if a.desired_status == "run" and a.client_status == "running"
    ]


def test_silent_node_goes_down_and_its_allocs_move(server: Server, tmp_path: Path) -> None:
    a = start_client(server, tmp_path / "a", "node-a")
    server.register_job(mock_job("web", count=2))
    wait_for(lambda: len(live(server, "web")) == 2, 10, "two web allocs running on node-a")
    b = start_client(server, tmp_path / "b", "node-b")
    try:
        a.stop()  # heartbeats stop: the node falls silent
        wait_for(lambda: server.state.nodes[a.node_id].status == "down", 10, "node-a down")
        wait_for(lambda: live(server, "web") == [b.node_id] * 2, 15, "web moved to node-b")
        lost = [x for x in server.state.allocs_for_job("default", "web") if x.node_id == a.node_id]
        assert lost and all(x.client_status == "lost" and x.desired_status == "stop" for x in lost)
        replacements = [
            x for x in server.state.allocs_for_job("default", "web") if x.node_id == b.node_id
        ]
        assert {x.previous_allocation for x in replacements} == {x.id for x in lost}
        # Every evaluation ends: done, blocked, or canceled when coalesced into a newer one.
        wait_for(
            lambda: not [e for e in server.state.evals.values() if e.status == "pending"],
            10,
            "no evaluation left pending",
        )
    finally:
        b.stop()


def test_job_that_fits_nowhere_stays_pending_with_reasons(server: Server, tmp_path: Path) -> None:
    c = start_client(server, tmp_path / "c", "node-c")
    try:
        job = mock_job("huge", count=1)
        big = Task(name="t", driver="mock", resources=Resources(cpu=100, memory_mb=10**9))
        job = Job(
            id="huge",
            constraints=[Constraint(ltarget="${attr.kernel.name}", rtarget="plan9")],
            task_groups=[TaskGroup(name="g", tasks=[big])],
        )
        resp = server.register_job(job)
        ev = wait_for(
            lambda: (e := server.state.evals.get(resp.eval_id)) and e.terminal() and e,
            10,
            "the evaluation to finish",
        )
        metric = ev.failed_tg_allocs["g"]
        assert metric.constraint_filtered.get("${attr.kernel.name} = plan9") == 1
        assert ev.blocked_eval
        # The job waits in exactly one blocked evaluation for capacity to change.
        wait_for(
            lambda: (
                [
                    e.status
                    for e in server.state.evals_for_job("default", "huge")
                    if e.status in ("blocked", "pending")
                ]
                == ["blocked"]
            ),
            10,
            "one blocked evaluation",
        )
        assert server.state.allocs_for_job("default", "huge") == []

        # Only memory too large: the reason names the exhausted dimension.
        server.register_job(Job(id="huge", task_groups=[TaskGroup(name="g", tasks=[big])]))
        wait_for(
            lambda: any(
                e.failed_tg_allocs.get("g")
                and e.failed_tg_allocs["g"].dimension_exhausted.get("memory")
                for e in server.state.evals_for_job("default", "huge")
            ),
            10,
            "a memory-exhausted reason",
        )
    finally:
        c.stop()


def test_unknown_driver_is_filtered_not_fatal(server: Server, tmp_path: Path) -> None:
    c = start_client(server, tmp_path / "c", "node-c")
    try:
        resp = server.register_job(mock_job("nodriver", count=1, driver="nosuchdriver"))
        ev = wait_for(
            lambda: (e := server.state.evals.get(resp.eval_id)) and e.terminal() and e,
            10,
            "the evaluation to finish",
        )
        assert "missing drivers" in ev.failed_tg_allocs["g"].constraint_filtered
        # Other jobs are untouched and still schedule.
        server.register_job(mock_job("fine", count=1))
        wait_for(lambda: live(server, "fine"), 10, "fine running")
    finally:
        c.stop()
