"""Periodic launch lateness: how long after its due time each child job is launched.

A real server (the in-memory log twin, scheduler workers running) with ``--jobs``
periodic jobs, each on a seconds-level cron (``* * * * * * *``, every second), runs
until ``--launches`` children exist. A child's lateness is its submit time (when the
leader's launch command was made) minus the due time its ID carries. Also measured:
the CPU the process used per second while 100 more periodic jobs wait for a yearly
launch (the dispatcher must sleep, not poll). Prints one JSON object.

    python benchmarks/periodic_lateness.py [--jobs 20] [--launches 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from gitorch.core import periodic
from gitorch.core.model import Job, Task, TaskGroup
from gitorch.core.model.launch import PeriodicConfig
from gitorch.server.server import Server

MS = 1_000_000


def job(job_id: str, spec: str) -> Job:
    return Job(
        id=job_id,
        type="batch",
        periodic=PeriodicConfig(spec=spec),
        task_groups=[TaskGroup(name="g", tasks=[Task(name="t", driver="raw_exec")])],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--launches", type=int, default=200)
    args = ap.parse_args()

    server = Server.in_memory(num_workers=1)
    try:
        for i in range(100):
            server.register_job(job(f"idle-{i}", "@yearly"))
        cpu0, wall0, woke0 = time.process_time(), time.monotonic(), server.periodic.wakeups
        time.sleep(5.0)
        idle_cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
        idle_wakeups = server.periodic.wakeups - woke0

        for i in range(args.jobs):
            server.register_job(job(f"tick-{i}", "* * * * * * *"))
        deadline = time.monotonic() + args.launches / args.jobs + 30
        kids: list[Job] = []
        while time.monotonic() < deadline:
            kids = [
                k for i in range(args.jobs) for k in server.state.children("default", f"tick-{i}")
            ]
            if len(kids) >= args.launches:
                break
            time.sleep(0.2)
    finally:
        server.stop()
    late = sorted(
        (k.submit_time - (periodic.launch_of(k.id) or k.submit_time)) / MS
        for k in kids[: args.launches]
    )
    q = statistics.quantiles(late, n=100, method="inclusive") if len(late) > 1 else late * 99
    print(
        json.dumps(
            {
                "benchmark": "periodic_lateness",
                "jobs": args.jobs,
                "launches": len(late),
                "lateness_ms_p50": round(q[49], 2),
                "lateness_ms_p99": round(q[98], 2),
                "lateness_ms_max": round(late[-1], 2) if late else None,
                "idle_periodic_jobs": 100,
                "idle_process_cpu_share": round(idle_cpu, 4),
                "idle_dispatcher_wakeups_in_5s": idle_wakeups,
            }
        )
    )


if __name__ == "__main__":
    main()
