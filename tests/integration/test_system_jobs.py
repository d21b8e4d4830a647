"""System and sysbatch jobs through a real server (scheduler, broker, plan applier,
heartbeats) and real clients running the mock driver: one allocation per node, on nodes
that join later, gone from nodes that leave; sysbatch work runs once per node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import wait_for

from gitorch.agent.client import Client, ClientOptions
from gitorch.agent.localconn import LocalConn
from gitorch.jobspec import parse_text
from gitorch.plugins.builtin.mock import MockDriver
from gitorch.server.server import Server

pytestmark = pytest.mark.timeout(90)

JOB = """job "%(id)s" {
  type = "%(type)s"
  group "agent" {
    task "t" {
      driver = "mock"
      config { run_for = "%(run_for)s" }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
"""


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


def by_status(server: Server, job_id: str, status: str) -> list[str]:
    allocs = server.state.allocs_for_job("default", job_id)
    return sorted(a.node_id for a in allocs if a.client_status == status)


def test_system_job_runs_on_every_node_and_follows_joins_and_leaves(
    server: Server, tmp_path: Path
) -> None:
    a = start_client(server, tmp_path / "a", "node-a")
    b = start_client(server, tmp_path / "b", "node-b")
    c: Client | None = None
    try:
        job = parse_text(JOB % {"id": "sys", "type": "system", "run_for": "300s"})
        server.register_job(job)
        both = sorted([a.node_id, b.node_id])
        wait_for(lambda: by_status(server, "sys", "running") == both, 15, "sys on both nodes")
        c = start_client(server, tmp_path / "c", "node-c")  # joins later: no job change
        three = sorted([a.node_id, b.node_id, c.node_id])
        wait_for(lambda: by_status(server, "sys", "running") == three, 15, "sys on node-c")
        names = {x.name for x in server.state.allocs_for_job("default", "sys")}
        assert names == {"sys.agent[0]"}
        b.stop()  # node-b falls silent: its allocation is lost and not replaced elsewhere
        wait_for(lambda: by_status(server, "sys", "lost") == [b.node_id], 15, "b's alloc lost")
        live = [
            x.node_id for x in server.state.allocs_for_job("default", "sys") if not x.terminal()
        ]
        assert sorted(live) == sorted([a.node_id, c.node_id])
    finally:
        for client in (a, b, c):
            if client is not None:
                client.stop()


def test_sysbatch_runs_once_per_node_including_a_new_one(server: Server, tmp_path: Path) -> None:
    a = start_client(server, tmp_path / "a", "node-a")
    b: Client | None = None
    try:
        job = parse_text(JOB % {"id": "once", "type": "sysbatch", "run_for": "0.2s"})
        server.register_job(job)
        wait_for(lambda: by_status(server, "once", "complete") == [a.node_id], 15, "ran on a")
        b = start_client(server, tmp_path / "b", "node-b")
        done = sorted([a.node_id, b.node_id])
        wait_for(lambda: by_status(server, "once", "complete") == done, 15, "ran on b")
        server.register_job(job)  # the same job again: nothing runs twice
        wait_for(
            lambda: not [e for e in server.state.evals.values() if e.status == "pending"],
            10,
            "no evaluation left pending",
        )
        assert len(server.state.allocs_for_job("default", "once")) == 2
    finally:
        a.stop()
        if b is not None:
            b.stop()
