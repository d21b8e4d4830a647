"""A Jepsen-style check of the server cluster: three real server processes take
concurrent writes while a nemesis kills (SIGKILL, then restarts), pauses (SIGSTOP, then
SIGCONT) and restarts servers at random for a bounded time. Then everything is resumed
and a checker asks each replica for its own state (``?stale``):

- every acknowledged write (HTTP 200) is present on every replica;
- the replicas hold identical job tables (ID, version and the Raft indexes each entry
  was applied at: a write applied twice, or a replica that truncated and re-applied
  differently, would show as a difference);
- nothing appears that no writer sent.

Each write registers a job with a unique ID, through a random live server (followers
relay writes to the leader, as clients' requests are). The nemesis keeps at most one
server down at a time, so the cluster keeps a quorum and the run makes progress.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import wait_for
from servers import Node, resume_all, server_config

pytestmark = pytest.mark.timeout(300)

NEMESIS_SECONDS = 25.0
WRITERS = 4


def job(job_id: str) -> dict[str, Any]:
    task = {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}
    return {"ID": job_id, "TaskGroups": [{"Name": "g", "Count": 0, "Tasks": [task]}]}


class History:
    """What the writers sent and what was acknowledged."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: set[str] = set()
        self.acked: set[str] = set()

    def write(self, servers: list[Node], job_id: str, rng: random.Random) -> None:
        live = [s for s in servers if s.running] or servers
        target = rng.choice(live)
        with self.lock:
            self.sent.add(job_id)
        try:
            r = target.http.put("/v1/jobs", json={"Job": job(job_id)}, timeout=3)
        except httpx.HTTPError:
            return  # unknown outcome: it may or may not have been applied
        if r.status_code == 200:
            with self.lock:
                self.acked.add(job_id)


def writer(servers: list[Node], history: History, stop: threading.Event, k: int) -> None:
    rng = random.Random(k)
    n = 0
    while not stop.is_set():
        history.write(servers, f"nemesis-{k}-{n}", rng)
        n += 1


def nemesis(servers: list[Node], stop: threading.Event, log: list[str], seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        victim = rng.choice(servers)
        action = rng.choice(["kill", "pause", "restart"])
        log.append(f"{action} {victim.raft}")
        if action == "kill":
            victim.kill()
            stop.wait(rng.uniform(0.5, 2.0))
            victim.launch()
        elif action == "pause":
            victim.signal(signal.SIGSTOP)
            stop.wait(rng.uniform(0.5, 3.0))
            victim.signal(signal.SIGCONT)
        else:
            victim.stop(timeout=15)
            victim.launch()
        stop.wait(rng.uniform(1.0, 3.0))  # let it rejoin before the next fault


def table(server: Node) -> list[tuple[str, int, int, int]]:
    jobs = server.stale("/v1/jobs")
    return sorted((j["ID"], j["Version"], j["CreateIndex"], j["JobModifyIndex"]) for j in jobs)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Node]]:
    config = tmp_path / "server.hcl"
    nodes = [Node(tmp_path / f"s{i}", "-config", str(config)) for i in range(3)]
    server_config(config, [n.raft for n in nodes])
    for n in nodes:
        n.launch()
    try:
        for n in nodes:
            n.healthy(60)
        yield nodes
    finally:
        resume_all(nodes)
        for n in nodes:
            n.stop()


def test_acknowledged_writes_survive_kills_pauses_and_restarts(servers: list[Node]) -> None:
    history = History()
    stop_writes, stop_faults = threading.Event(), threading.Event()
    faults: list[str] = []
    threads = [
        threading.Thread(target=writer, args=(servers, history, stop_writes, k), daemon=True)
        for k in range(WRITERS)
    ]
    chaos = threading.Thread(
        target=nemesis, args=(servers, stop_faults, faults, int(time.time())), daemon=True
    )
    for t in threads:
        t.start()
    chaos.start()
    try:
        time.sleep(NEMESIS_SECONDS)
    finally:
        stop_faults.set()
        chaos.join(timeout=60)
        resume_all(servers)
        for s in servers:
            if not s.running:
                s.launch()
        time.sleep(3)  # writes go on against a healed cluster for a moment
        stop_writes.set()
        for t in threads:
            t.join(timeout=30)
    for s in servers:
        s.healthy(60)
    assert len(history.acked) > 50, (len(history.acked), faults)

    def converged() -> list[tuple[str, int, int, int]] | None:
        tables = [table(s) for s in servers]
        return tables[0] if all(t == tables[0] for t in tables) else None

    final = wait_for(converged, 60, f"replicas to converge after {faults}")
    ids = {row[0] for row in final}
    missing = history.acked - ids
    assert not missing, f"acknowledged writes lost: {sorted(missing)[:10]} after {faults}"
    assert ids <= history.sent, f"writes nobody sent: {sorted(ids - history.sent)[:10]}"
    assert all(version == 0 for _, version, _, _ in final)  # each job written once
    for s in servers:
        log = s.log_path.read_text(errors="replace")
        assert "may have diverged" not in log, f"{s.raft} truncated applied entries"
