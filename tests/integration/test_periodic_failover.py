"""A seconds-level periodic job across a leader kill, on a real 3-server Raft cluster:
the new leader catches up the launch missed while no leader was launching, once, then
keeps the schedule; no due time is launched twice (one launch evaluation per child)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import wait_for
from servers import agreed_leader
from test_cluster import Node, server_config

pytestmark = pytest.mark.timeout(150)
S = 1_000_000_000
TICK = {
    "ID": "tick",
    "Type": "batch",
    "Periodic": {"Spec": "*/2 * * * * * *", "SpecType": "cron"},
    "TaskGroups": [
        {
            "Name": "g",
            "Count": 1,
            "Tasks": [{"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}],
        }
    ],
}


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Node]]:
    nodes = [Node(tmp_path / f"s{i}", "-config", str(tmp_path / "server.hcl")) for i in range(3)]
    server_config(tmp_path / "server.hcl", [n.raft for n in nodes], None)
    for n in nodes:
        n.launch()
    try:
        for n in nodes:
            n.healthy()
        yield nodes
    finally:
        for n in nodes:
            n.stop(signal.SIGKILL)


def launches(node: Node) -> dict[str, int]:
    """Child ID -> its launch time (unix seconds), from a server's own state."""
    kids = [j for j in node.stale("/v1/jobs?prefix=tick/") if j["ParentID"] == "tick"]
    return {k["ID"]: int(k["ID"].rpartition("-")[2]) for k in kids}


def test_leader_kill_neither_doubles_nor_misses(servers: list[Node]) -> None:
    first = agreed_leader(servers)
    assert first.http.put("/v1/jobs", json={"Job": TICK}).status_code == 200
    wait_for(lambda: len(launches(first)) >= 2, 15, "two launches before the kill")
    killed_at = time.time()
    first.kill()
    rest = [n for n in servers if n is not first]
    # Hold one of the two left stopped: no quorum, no leader, due times pass unlaunched.
    rest[0].signal(signal.SIGSTOP)
    time.sleep(4.5)
    rest[0].signal(signal.SIGCONT)
    second = agreed_leader(rest)
    took_over = time.time()
    wait_for(
        lambda: len([t for t in launches(second).values() if t > took_over + 1]) >= 2,
        20,
        "two scheduled launches by the new leader",
    )
    got = launches(second)
    # No double: one launch evaluation for every child, and one child per launch second.
    for child in got:
        evals: list[dict[str, Any]] = second.get(f"/v1/job/{child}/evaluations", stale="")
        assert len([e for e in evals if e["TriggeredBy"] == "periodic-job"]) == 1, (child, evals)
    assert len(set(got.values())) == len(got)
    # No miss, once: two or more due times passed with no leader; the new leader launched
    # for them once as it took over (Nomad's catch-up), not once per missed due time.
    before = sorted(t for t in got.values() if t <= killed_at)
    gap = sorted(t for t in got.values() if killed_at < t <= took_over + 0.5)
    after = sorted(t for t in got.values() if t > took_over + 0.5)
    assert before and after, got
    assert 1 <= len(gap) <= 2, (killed_at, took_over, sorted(got.values()))
    assert not [t for t in gap if t < took_over - 1.5], "a missed due time launched late"
    assert all(t % 2 == 0 for t in after[1:]), after
    assert all(b - a == 2 for a, b in zip(after[1:], after[2:], strict=False)), after
