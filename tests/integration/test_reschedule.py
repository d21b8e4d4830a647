"""A task that always fails on start, on a real server and client with the mock driver:
the reschedule policy spaces the replacements by its delay and stops at its attempts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import wait_for

from gitorch.agent.client import Client, ClientOptions
from gitorch.agent.localconn import LocalConn
from gitorch.core.model import Allocation
from gitorch.jobspec import parse_text
from gitorch.plugins.builtin.mock import MockDriver
from gitorch.server.server import Server

pytestmark = pytest.mark.timeout(60)

JOB = """\
job "broken" {
  group "g" {
    reschedule {
      delay          = "1s"
      delay_function = "constant"
      attempts       = 2
      interval       = "1h"
      unlimited      = false
    }
    restart {
      attempts = 0
      mode     = "fail"
    }
    task "t" {
      driver = "mock"
      config {
        start_error = "no such image: ngnix"
      }
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
    s = Server.in_memory(tmp_path / "server")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def client(server: Server, tmp_path: Path) -> Iterator[Client]:
    c = Client(
        LocalConn(server),
        ClientOptions(data_dir=tmp_path / "client", name="node-a", alloc_wait_s=0.5),
        drivers={"mock": MockDriver()},
    )
    c.start()
    try:
        wait_for(lambda: server.state.nodes.get(c.node_id), 10, "client registered")
        yield c
    finally:
        c.stop()


def allocs(server: Server) -> list[Allocation]:
    return sorted(server.state.allocs_for_job("default", "broken"), key=lambda a: a.create_index)


def test_failing_task_is_rescheduled_twice_a_second_apart(server: Server, client: Client) -> None:
    server.register_job(parse_text(JOB))
    wait_for(
        lambda: len(allocs(server)) == 3 and allocs(server)[2].client_status == "failed",
        20,
        "the original and two reschedules, all failed",
    )
    time.sleep(3)  # attempts spent: nothing more comes
    made = allocs(server)
    assert len(made) == 3 and all(a.client_status == "failed" for a in made)
    for prev, new in zip(made, made[1:], strict=False):
        assert new.previous_allocation == prev.id
        assert new.create_time - prev.create_time >= 1_000_000_000
    tracker = made[2].reschedule_tracker
    assert tracker is not None
    assert [e.prev_alloc_id for e in tracker.events] == [made[0].id, made[1].id]
    assert all(e.delay == 1_000_000_000 for e in tracker.events)
    last = made[2]
    assert last.desired_status == "run" and last.next_allocation == ""
    evals = server.state.evals_for_job("default", "broken")
    assert sum(e.triggered_by == "failed-follow-up" for e in evals) == 2
    assert any("reschedule attempts exhausted" in e.status_description for e in evals)
