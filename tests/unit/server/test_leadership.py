"""Leader-only services follow ``Server.set_leader``: a new leader rebuilds the broker and
gives every ready node the failover grace; a demoted one stops them and submits nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gitorch.core import commands as c
from gitorch.core.model import Evaluation, GitopsStatus, Node
from gitorch.core.state import StateView
from gitorch.errors import NotLeaderError
from gitorch.server.backend import SyncReport
from gitorch.server.fsm import Fsm
from gitorch.server.log import LocalLog
from gitorch.server.server import Server


class Gitops:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")

    def sync(self, dry_run: bool) -> SyncReport:
        raise AssertionError("not used")

    def status(self, state: StateView) -> GitopsStatus:
        raise AssertionError("not used")

    def webhook(self, body: bytes, signature: str | None) -> bool:
        return False


@pytest.fixture
def server() -> Iterator[Server]:
    fsm = Fsm()
    s = Server(fsm, LocalLog(fsm), num_workers=0, heartbeat_ttl_s=5.0, heartbeat_grace_s=7.0)
    s.gitops = Gitops()
    s.start()
    try:
        yield s
    finally:
        s.stop()


def test_new_leader_rebuilds_the_broker_and_gives_the_failover_grace(server: Server) -> None:
    node = Node(id="n1", name="n1", status="ready")
    server.log.submit(c.RegisterNode(now=1, node=node))
    pending = Evaluation(id="e1", job_id="j", type="service", triggered_by="job-register")
    server.log.submit(c.UpsertEvals(now=2, evals=[pending]))  # written by the old leader
    assert server.broker.stats()["TotalReady"] == 0  # not leading: no broker

    t0 = time.monotonic()
    server.set_leader(True)
    assert server.broker.enabled and server.broker.stats()["TotalReady"] == 1
    deadline = server.heartbeats._deadlines["n1"]
    assert deadline - t0 >= 5.0 + 7.0 + 5.0 - 0.5  # TTL + grace + one more TTL
    assert server.gitops is not None and server.gitops.calls == ["start"]  # type: ignore[attr-defined]


def test_demoted_leader_stops_everything_and_submits_nothing(server: Server) -> None:
    server.log.submit(c.RegisterNode(now=1, node=Node(id="n1", name="n1", status="ready")))
    server.set_leader(True)
    thread = server.heartbeats._thread
    server.set_leader(False)
    assert thread is not None and not thread.is_alive()
    assert server.heartbeats._deadlines == {}
    assert not server.broker.enabled
    assert server.gitops.calls == ["start", "stop"]  # type: ignore[union-attr]

    index = server.fsm.state.index
    server._node_expired("n1")  # a timer that fired late: not the leader's any more
    with pytest.raises(NotLeaderError):
        server.blocked._submit(c.UpsertEvals(now=3, evals=[]))
    server.log.submit(c.UpdateNodeEligibility(now=4, node_id="n1", eligibility="eligible"))
    time.sleep(0.1)  # frees capacity: a leader would unblock, a follower does nothing
    assert server.fsm.state.index == index + 1
    assert server.fsm.state.nodes["n1"].status == "ready"
