"""Time to a new leader after kill -9, on three real server agents on 127.0.0.1.

Each round kills the leader's process (SIGKILL), then times two things from the kill:
``elected`` (both survivors name the same new leader on /v1/status/leader) and
``write`` (a job registered through a survivor's HTTP API comes back 200, i.e. the new
leader committed it). The killed server is then restarted from its data dir and the
next round waits until all three agree again. Prints one JSON object.

    python benchmarks/failover.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from agents import Agent, wait


class Server(Agent):
    """A server agent that can be killed and asked who leads and to take a write."""

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def leader(self) -> str | None:
        try:
            r = self.client.get("/v1/status/leader", timeout=0.5)
            if r.status_code != 200:
                return None
            return str(r.json()) or None
        except (httpx.HTTPError, ValueError):
            return None

    def write(self, job_id: str) -> bool:
        task = {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}
        job = {"ID": job_id, "TaskGroups": [{"Name": "g", "Count": 0, "Tasks": [task]}]}
        try:
            return self.client.put("/v1/jobs", json={"Job": job}, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False


def agreed(servers: list[Server]) -> str | None:
    names = {s.leader() for s in servers}
    return names.pop() if len(names) == 1 and None not in names else None


def one_round(servers: list[Server], n: int) -> tuple[float, float]:
    """Kill the leader; return seconds to an agreed new leader and to a committed write."""
    name = agreed(servers)
    victim = next(s for s in servers if s.raft == name)
    survivors = [s for s in servers if s is not victim]
    wait("a write before the kill", lambda: survivors[0].write(f"pre-{n}"), 30, every=0.01)
    t0 = time.monotonic()
    victim.kill()
    wait(
        "a new leader",
        lambda: (agreed(survivors) or victim.raft) != victim.raft,
        30,
        every=0.01,
    )
    elected = time.monotonic() - t0
    wait("a committed write", lambda: survivors[n % 2].write(f"post-{n}"), 30, every=0.01)
    written = time.monotonic() - t0
    victim.restart()
    wait("three agree again", lambda: agreed(servers), 60, every=0.05)
    return elected, written


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitorch-failover-") as tmp:
        root = Path(tmp)
        servers = [Server(root, f"s{i}") for i in range(3)]
        peers = ", ".join(f'"{s.raft}"' for s in servers)
        config = (
            f"server {{\n  enabled = true\n  bootstrap_expect = 3\n"
            f"  server_join {{ retry_join = [{peers}] }}\n}}\n"
        )
        elected: list[float] = []
        written: list[float] = []
        try:
            for s in servers:
                s.start(config)
            wait("a first leader", lambda: agreed(servers), 60, every=0.01)
            for n in range(args.rounds):
                t_elected, t_written = one_round(servers, n)
                elected.append(t_elected)
                written.append(t_written)
        finally:
            for s in servers:
                s.stop()
        print(
            json.dumps(
                {
                    "benchmark": "leader_failover_after_kill_9",
                    "servers": 3,
                    "rounds": len(elected),
                    "new_leader_p50_s": pct(elected, 0.5),
                    "new_leader_p90_s": pct(elected, 0.9),
                    "new_leader_max_s": round(max(elected), 3),
                    "write_accepted_p50_s": pct(written, 0.5),
                    "write_accepted_p90_s": pct(written, 0.9),
                    "write_accepted_max_s": round(max(written), 3),
                    "new_leader_mean_s": round(statistics.mean(elected), 3),
                    "goal_new_leader_p50_s": 1.5,
                    "cpus": os.cpu_count(),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
