"""Placements per second committed through Raft: a 1,000-allocation job on simulated nodes.

A real gitorch server (eval broker, scheduler workers, plan applier) over a real
pysyncobj cluster on 127.0.0.1 (1 or 3 servers; followers are separate processes that
replicate and apply every entry). Nodes are registered through Raft as they would be
by clients; the clock starts when the job is registered and stops when its evaluation
is complete with every allocation committed. Then each follower reports the state it
applied (index, allocation count, a digest of every allocation), which must match the
leader's: a 1,000-allocation plan replicates through the whole server path. Prints JSON.

Usage: python benchmarks/placements_raft.py [--nodes 1000 10000] [--count 1000] [--servers 1]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import multiprocessing as mp
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from gitorch.core import commands as c
from gitorch.core.model import (
    DriverInfo,
    Job,
    Node,
    NodeCpu,
    NodeMemory,
    NodeResources,
    Resources,
    Task,
    TaskGroup,
)
from gitorch.server.fsm import Fsm
from gitorch.server.gcpolicy import tune_for_large_state
from gitorch.server.log import RaftLog
from gitorch.server.server import Server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def follower(
    addr: str,
    peers: list[str],
    data_dir: str,
    stop: mp.synchronize.Event,
    report: Connection | None = None,
) -> None:
    tune_for_large_state()  # as a server process does
    fsm = Fsm()
    log = RaftLog(fsm, addr, peers, Path(data_dir))
    if report is not None:  # asked for the state at an index: answer once applied
        try:
            target = int(report.recv())
        except EOFError:  # the leader asked nothing (it closed the pipe)
            target = -1
        deadline = time.monotonic() + 60
        while 0 <= target and fsm.state.index < target and time.monotonic() < deadline:
            time.sleep(0.01)
        if target >= 0:
            report.send(digest(fsm))
    stop.wait()
    log.close()


def become_leader(log: RaftLog, me: str, timeout: float = 60.0) -> None:
    """Wait until ``log`` leads; if a follower process won the election, ask it to hand
    leadership over (pysyncobj's ``transfer``, once this node has caught up)."""
    from gitorch.server import raft

    deadline, asked = time.monotonic() + timeout, 0.0
    while not log.is_leader():
        if time.monotonic() > deadline:
            raise SystemExit("this server did not become leader")
        leader = log.leader()
        if leader and leader != me and time.monotonic() - asked > 1.0:
            raft.request(leader, "transfer", me)
            asked = time.monotonic()
        time.sleep(0.05)


def digest(fsm: Fsm) -> tuple[int, int, str]:
    """(index, allocations, sha256 of every allocation's ID, node and job version)."""
    state = fsm.snapshot()
    h = hashlib.sha256()
    for alloc_id in sorted(state.allocs):
        a = state.allocs[alloc_id]
        h.update(f"{a.id}:{a.node_id}:{a.job_version}:{a.desired_status};".encode())
    return state.index, len(state.allocs), h.hexdigest()


def sim_node(i: int) -> Node:
    return Node(
        id=f"{i:08d}-0000-4000-8000-000000000000",
        name=f"sim-{i}",
        datacenter="dc1",
        attributes={"kernel.name": "linux", "cpu.arch": "amd64", "unique.hostname": f"sim-{i}"},
        node_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=8000), memory=NodeMemory(memory_mb=16384)
        ),
        drivers={"mock": DriverInfo(detected=True, healthy=True)},
        status="ready",
    )


@contextlib.contextmanager
def leader_cluster(
    servers: int, prefix: str
) -> Iterator[tuple[Server, Fsm, RaftLog, list[Connection]]]:
    """A gitorch server leading a pysyncobj cluster of ``servers`` on 127.0.0.1; the
    followers are processes of their own, each reachable through a pipe for a digest."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(servers)]
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    pipes = [ctx.Pipe() for _ in addrs[1:]]
    procs = [
        ctx.Process(target=follower, args=(a, addrs, str(tmp / a), stop, child), daemon=True)
        for a, (_, child) in zip(addrs[1:], pipes, strict=True)
    ]
    for p in procs:
        p.start()
    tune_for_large_state()
    fsm = Fsm()
    log = RaftLog(fsm, addrs[0], addrs, tmp / addrs[0])
    server = Server(fsm, log, num_workers=2, heartbeat_ttl_s=3600, heartbeat_grace_s=3600)
    server.start()
    try:
        become_leader(log, addrs[0])
        server.set_leader(True)
        yield server, fsm, log, [parent for parent, _ in pipes]
    finally:
        server.stop()
        for parent, _ in pipes:
            parent.close()
        stop.set()
        for p in procs:
            p.join(timeout=20)


def run(nodes: int, count: int, servers: int) -> dict[str, object]:
    with leader_cluster(servers, "gitorch-bench-") as (server, fsm, log, pipes):
        t_nodes = time.perf_counter()
        for i in range(nodes):
            log.submit(c.RegisterNode(now=time.time_ns(), node=sim_node(i)))
        t_nodes = time.perf_counter() - t_nodes
        task = Task(name="t", driver="mock", resources=Resources(cpu=100, memory_mb=64))
        job = Job(id="bench", task_groups=[TaskGroup(name="g", count=count, tasks=[task])])
        t0 = time.perf_counter()
        resp = server.register_job(job)
        while True:
            ev = fsm.state.evals.get(resp.eval_id)
            if ev is not None and ev.terminal():
                break
            time.sleep(0.001)
        elapsed = time.perf_counter() - t0
        placed = len(fsm.state.allocs_for_job("default", "bench"))
        mine = digest(fsm)
        for parent in pipes:
            parent.send(mine[0])
        theirs: list[Any] = [parent.recv() for parent in pipes]
        return {
            "benchmark": "placements_committed_through_raft",
            "servers": servers,
            "nodes": nodes,
            "allocations": count,
            "placed": placed,
            "seconds": round(elapsed, 4),
            "placements_per_s": round(placed / elapsed),
            "node_registrations_per_s": round(nodes / t_nodes),
            "goal_placements_per_s": 5000,
            "followers_applied_same_state": all(tuple(t) == mine for t in theirs),
            "state_index": mine[0],
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--servers", type=int, default=1)
    args = ap.parse_args()
    for n in args.nodes:
        print(json.dumps(run(n, args.count, args.servers)), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
