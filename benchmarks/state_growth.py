"""Where C1M's per-placement cost grows as the state fills: scheduling and applying.

One process, no Raft, no HTTP: the two parts of a placement that every C1M run spends
most of its leader's CPU on, timed apart. ``--nodes`` simulated nodes (default 5,000,
as ``c1m.py``) are registered in a real ``StateStore``; then, for each job of
``--job-size`` allocations (default 1,000), the scheduler (``schedule`` on a fresh
``snapshot()``, as a worker does) makes the plan and the store applies it
(``apply(ApplyPlan)``, as every server's FSM does), until ``--allocs`` allocations
(default 1,000,000; ``--quick``: 200,000) are placed. Reported per 100,000-allocation
slice: the median microseconds a placement spent scheduling and applying (the median
of the slice's plans, so a burst from a neighbour on a shared machine moves it
little), and the process RSS at the slice's end; then each part's last slice as a share
of its first (``c1m.py``'s rate ratio, part by part: 1.0 is a cost that does not grow).

To tell TLB misses from cache misses, run it with its memory on transparent huge pages
(where the kernel's mode is ``madvise``, only memory a process asks for gets them, and
pymalloc never asks: ``PYTHONMALLOC=malloc GLIBC_TUNABLES=glibc.malloc.hugetlb=1``
makes glibc ask); the JSON says how much memory huge pages backed.

    python benchmarks/state_growth.py [--quick] [--allocs N] [--nodes 5000] [--job-size 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import psutil
from c1m import job
from placements_raft import sim_node

from gitorch.core import commands as c
from gitorch.core.model import Evaluation
from gitorch.core.scheduler import schedule
from gitorch.core.state import StateStore
from gitorch.server.gcpolicy import tune_for_large_state
from gitorch.server.ids import new_id

SLICE = 100_000


def huge_pages_kib() -> int:
    """KiB of this process's anonymous memory that transparent huge pages back."""
    rollup = Path("/proc/self/smaps_rollup")
    if not rollup.exists():
        return 0
    for line in rollup.read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


def ratio(costs: list[float]) -> float:
    """The first slice's cost over the last's: the rate of the last as a share of the
    first's, as ``c1m.py`` reports it."""
    return round(costs[0] / costs[-1], 2) if costs and costs[-1] else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--allocs", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="stop at 200,000 allocations")
    ap.add_argument("--nodes", type=int, default=5_000)
    ap.add_argument("--job-size", type=int, default=1_000)
    args = ap.parse_args()
    total = 200_000 if args.quick else args.allocs
    tune_for_large_state()  # the collector as a server runs it
    proc = psutil.Process()
    store = StateStore()
    now = time.time_ns()
    for i in range(args.nodes):
        store.apply(c.RegisterNode(now=now, node=sim_node(i)))
    slices: list[dict[str, float]] = []
    sched_us: list[float] = []
    apply_us: list[float] = []
    placed = n = 0
    while placed < total:
        spec = job(n, args.job_size)
        ev = Evaluation(id=new_id(), job_id=spec.id, triggered_by="job-register")
        store.apply(c.RegisterJob(now=now, job=spec, eval=ev))
        t0 = time.perf_counter()
        plan = schedule(store.snapshot(), ev, now=now, seed=n, new_id=new_id)
        t1 = time.perf_counter()
        store.apply(c.ApplyPlan(now=now, plan=plan))
        t2 = time.perf_counter()
        got = len(plan.placements)
        if got != args.job_size:
            raise SystemExit(f"job {spec.id}: {got} of {args.job_size} placed: nodes are full")
        sched_us.append((t1 - t0) / got * 1e6)
        apply_us.append((t2 - t1) / got * 1e6)
        placed += got
        n += 1
        if placed % SLICE == 0 or placed >= total:
            slices.append(
                {
                    "allocs": placed,
                    "schedule_us": round(statistics.median(sched_us), 2),
                    "apply_us": round(statistics.median(apply_us), 2),
                    "rss_mib": round(proc.memory_info().rss / 2**20, 1),
                }
            )
            sched_us.clear()
            apply_us.clear()
    sched = [s["schedule_us"] for s in slices]
    applied = [s["apply_us"] for s in slices]
    both = [a + b for a, b in zip(sched, applied, strict=True)]
    print(
        json.dumps(
            {
                "benchmark": "state_growth",
                "nodes": args.nodes,
                "job_size": args.job_size,
                "allocs": placed,
                "slices": slices,
                "last_vs_first": {
                    "schedule": ratio(sched),
                    "apply": ratio(applied),
                    "both": ratio(both),
                },
                "huge_pages_mib": round(huge_pages_kib() / 1024, 1),
                "pythonmalloc": os.environ.get("PYTHONMALLOC", "pymalloc"),
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
