"""State-store snapshot cost and memory per allocation as the store fills.

Fills a real ``StateStore`` through its one entry point (``apply``: RegisterNode, then
ApplyPlan commands of 1,000 placements each, as the plan applier commits them) up to
``--allocs`` allocations on ``--nodes`` nodes. At each checkpoint it times
``snapshot()`` (the scheduler takes one per evaluation), one scheduler-style read
(``allocs_for_job`` plus ``node_usage`` of 100 nodes), and reads the process RSS to
give bytes per allocation. Prints one JSON object.

    python benchmarks/state_snapshot.py [--allocs 1000000] [--nodes 5000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
import uuid

import psutil

from gitorch.core import commands as c
from gitorch.core.model import (
    DriverInfo,
    Job,
    Node,
    NodeCpu,
    NodeMemory,
    NodeResources,
    Placement,
    Plan,
    Resources,
    Task,
    TaskGroup,
)
from gitorch.core.state import StateStore

PLAN_SIZE = 1_000


def node(i: int) -> Node:
    return Node(
        id=str(uuid.UUID(int=i + 1)),
        name=f"node-{i}",
        datacenter="dc1",
        status="ready",
        drivers={"mock": DriverInfo(detected=True, healthy=True)},
        node_resources=NodeResources(
            cpu=NodeCpu(cpu_shares=1_000_000), memory=NodeMemory(memory_mb=1_000_000)
        ),
    )


def job(n: int) -> Job:
    task = Task(name="t", driver="mock", resources=Resources(cpu=10, memory_mb=10))
    group = TaskGroup(name="g", count=PLAN_SIZE, tasks=[task])
    return Job(id=f"job-{n}", name=f"job-{n}", task_groups=[group])


def timed(fn: object, repeat: int = 50) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls."""
    assert callable(fn)
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--allocs", type=int, default=1_000_000)
    ap.add_argument("--nodes", type=int, default=5_000)
    args = ap.parse_args()
    proc = psutil.Process()
    store = StateStore()
    now = 1_700_000_000 * 10**9
    node_ids = []
    for i in range(args.nodes):
        n = node(i)
        node_ids.append(n.id)
        store.apply(c.RegisterNode(now=now, node=n))
    gc.collect()
    base_rss = proc.memory_info().rss
    checkpoints = sorted({10, 100_000, *range(200_000, args.allocs + 1, 200_000), args.allocs})
    checkpoints = [x for x in checkpoints if x <= args.allocs]
    rows = []
    placed = 0
    jobs = 0
    fill_s = 0.0
    while placed < args.allocs:
        size = min(PLAN_SIZE, args.allocs - placed, max(checkpoints[0] - placed, 1))
        j = job(jobs)
        store.apply(c.RegisterJob(now=now, job=j))
        placements = [
            Placement(
                id=str(uuid.UUID(int=placed + k + 1)),
                task_group="g",
                index=k,
                node_id=node_ids[(placed + k) % len(node_ids)],
            )
            for k in range(size)
        ]
        t0 = time.perf_counter()
        plan = Plan(eval_id=f"e{jobs}", job_id=j.id, placements=placements)
        store.apply(c.ApplyPlan(now=now, plan=plan))
        fill_s += time.perf_counter() - t0
        placed += size
        jobs += 1
        if placed >= checkpoints[0]:
            checkpoints.pop(0)
            gc.collect()
            rss = proc.memory_info().rss

            def read(job_id: str = j.id) -> None:
                snap = store.snapshot()
                snap.allocs_for_job("default", job_id)
                for nid in node_ids[:100]:
                    snap.node_usage(nid)

            rows.append(
                {
                    "allocs": placed,
                    "snapshot_us": round(timed(store.snapshot) * 1e6, 2),
                    "scheduler_read_ms": round(timed(read, 10) * 1e3, 3),
                    "rss_mib": round(rss / 2**20, 1),
                    "bytes_per_alloc": round((rss - base_rss) / placed) if placed >= 1000 else None,
                    "apply_allocs_per_s": round(placed / fill_s) if fill_s else None,
                }
            )
            if not checkpoints:
                break
    print(
        json.dumps(
            {
                "benchmark": "state_snapshot",
                "nodes": args.nodes,
                "plan_size": PLAN_SIZE,
                "checkpoints": rows,
                "snapshot_cost_ratio_last_vs_first": round(
                    rows[-1]["snapshot_us"] / max(rows[0]["snapshot_us"], 1e-9), 2
                ),
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
