"""The longest write stall while the leader compacts its Raft log, with 100,000
allocations in state.

A real gitorch server (eval broker, scheduler workers, plan applier) leads a 3-server
pysyncobj cluster on 127.0.0.1 (the followers are processes of their own that apply
every entry). Jobs of 1,000 allocations are placed on simulated nodes through the
scheduler and the plan applier until 100,000 allocations are in state. Then one writer
commits small entries back to back while the leader writes a full dump
(``RaftLog.compact``, i.e. ``gitorch.server.raft`` ``compact()``); the figure is the
longest gap between two successive commits while the dump runs. Prints JSON.

    python benchmarks/compaction_stall.py [--allocs 100000] [--nodes 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

from placements_raft import leader_cluster, sim_node

from gitorch.core import commands as c
from gitorch.core.model import Job, Resources, Task, TaskGroup
from gitorch.server.fsm import Fsm
from gitorch.server.log import RaftLog
from gitorch.server.server import Server


def writer(log: RaftLog, node_ids: list[str], stop: threading.Event, done: list[float]) -> None:
    i = 0
    while not stop.is_set():
        node_id = node_ids[i % len(node_ids)]
        eligibility = "eligible" if i % 2 else "ineligible"
        cmd = c.UpdateNodeEligibility(now=time.time_ns(), node_id=node_id, eligibility=eligibility)
        log.submit(cmd)
        done.append(time.perf_counter())
        i += 1


def fill(server: Server, fsm: Fsm, allocs: int, per_job: int) -> float:
    t0 = time.perf_counter()
    task = Task(name="t", driver="mock", resources=Resources(cpu=100, memory_mb=64))
    for n in range(allocs // per_job):
        job = Job(id=f"fill-{n}", task_groups=[TaskGroup(name="g", count=per_job, tasks=[task])])
        resp = server.register_job(job)
        while True:
            ev = fsm.state.evals.get(resp.eval_id)
            if ev is not None and ev.terminal():
                break
            time.sleep(0.005)
    return time.perf_counter() - t0


def run(allocs: int, nodes: int, per_job: int) -> dict[str, object]:
    with leader_cluster(3, "gitorch-compaction-") as (server, fsm, log, _pipes):
        for i in range(nodes):
            log.submit(c.RegisterNode(now=time.time_ns(), node=sim_node(i)))
        fill_s = fill(server, fsm, allocs, per_job)
        placed = len(fsm.state.allocs)
        state_bytes = len(fsm.snapshot_bytes())
        done: list[float] = []
        halt = threading.Event()
        node_ids = sorted(fsm.state.nodes)[:100]
        w = threading.Thread(target=writer, args=(log, node_ids, halt, done), daemon=True)
        w.start()
        time.sleep(1.0)
        before = len(done)
        t_dump = time.perf_counter()
        ok = log.compact(timeout=120)
        t_end = time.perf_counter()
        time.sleep(0.5)
        halt.set()
        w.join(timeout=10)
        baseline = [b - a for a, b in zip(done[: before - 1], done[1:before], strict=True)]
        during = [b - a for a, b in zip(done, done[1:], strict=False) if b >= t_dump and a <= t_end]
        base_sorted = sorted(baseline)
        return {
            "benchmark": "write_stall_during_log_compaction",
            "servers": 3,
            "allocations_in_state": placed,
            "nodes": nodes,
            "state_mb": round(state_bytes / 2**20, 1),
            "fill_seconds": round(fill_s, 1),
            "dump_ok": ok,
            "dump_seconds": round(t_end - t_dump, 2),
            "commits_during_dump": len(during),
            "max_gap_during_dump_ms": round(max(during) * 1e3, 1) if during else None,
            "max_gap_before_dump_ms": round(max(baseline) * 1e3, 1),
            "p50_gap_before_dump_ms": round(base_sorted[len(base_sorted) // 2] * 1e3, 3),
            "goal_max_gap_ms": 250,
            "cpus": os.cpu_count(),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--allocs", type=int, default=100_000)
    ap.add_argument("--nodes", type=int, default=2_000)
    ap.add_argument("--per-job", type=int, default=1_000)
    args = ap.parse_args()
    print(json.dumps(run(args.allocs, args.nodes, args.per_job), indent=2), flush=True)


if __name__ == "__main__":
    main()
