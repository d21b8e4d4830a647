"""CPU share of each process of an idle cluster: three real server agents and one
client-only agent on 127.0.0.1, nothing scheduled.

Starts the four agents, waits until they agree on a leader and the client's node is
ready, lets them settle, then samples each process's user+system CPU time over
``--seconds`` (default 30) and prints one JSON object with each process's share of one
core (goal: every process under 2 %).

    python benchmarks/idle_cpu.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import psutil
from agents import Agent, start_servers, wait


def cpu_seconds(proc: psutil.Process) -> float:
    """User and system CPU time of the process and its children."""
    t = proc.cpu_times()
    total = t.user + t.system
    for child in proc.children(recursive=True):
        try:
            ct = child.cpu_times()
            total += ct.user + ct.system
        except psutil.NoSuchProcess:
            pass
    return float(total)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=5.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitorch-idle-") as tmp:
        root = Path(tmp)
        servers: list[Agent] = []
        client = Agent(root, "client")
        agents = [client]
        try:
            servers = start_servers(root)
            agents = [*servers, client]
            https = ", ".join(f'"{s.address}"' for s in servers)
            client.start(f"client {{\n  enabled = true\n  servers = [{https}]\n}}\n")
            wait(
                "the client's node",
                lambda: any(n.get("Status") == "ready" for n in servers[0].get("/v1/nodes") or []),
                90,
            )
            time.sleep(args.settle)
            procs = {a.name: psutil.Process(a.proc.pid) for a in agents if a.proc}
            before = {n: cpu_seconds(p) for n, p in procs.items()}
            t0 = time.monotonic()
            time.sleep(args.seconds)
            wall = time.monotonic() - t0
            after = {n: cpu_seconds(p) for n, p in procs.items()}
            leader = servers[0].get("/v1/status/leader")
            rss = {n: p.memory_info().rss for n, p in procs.items()}
        finally:
            for a in agents:
                a.stop()
        share = {n: round(100 * (after[n] - before[n]) / wall, 2) for n in procs}
        roles = {s.name: ("leader" if leader == s.raft else "follower") for s in servers}
        roles["client"] = "client"
        print(
            json.dumps(
                {
                    "benchmark": "idle_cpu",
                    "seconds": round(wall, 1),
                    "cpu_percent_of_one_core": share,
                    "roles": roles,
                    "rss_mib": {n: round(v / 2**20, 1) for n, v in rss.items()},
                    "max_cpu_percent": max(share.values()),
                    "goal_max_cpu_percent": 2.0,
                    "cpus": os.cpu_count(),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
