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
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Agent:
    def __init__(self, root: Path, name: str, config: str) -> None:
        self.name = name
        self.http, self.rpc = free_port(), free_port()
        self.config = root / f"{name}.hcl"
        self.config.write_text(config)
        self.data_dir = root / name
        self.log = root / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.http}", timeout=2)

    def start(self) -> None:
        args = ["-config", str(self.config), "--data-dir", str(self.data_dir)]
        args += ["--http-port", str(self.http), "--rpc-port", str(self.rpc)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gitorch", "agent", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def get(self, path: str) -> Any:
        try:
            r = self.client.get(path)
            return r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None


def wait(what: str, fn: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


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
        ports = [(free_port(), free_port()) for _ in range(3)]
        peers = ", ".join(f'"127.0.0.1:{rpc}"' for _, rpc in ports)
        server_hcl = (
            f"server {{\n  enabled = true\n  bootstrap_expect = 3\n"
            f"  server_join {{ retry_join = [{peers}] }}\n}}\n"
        )
        servers = [Agent(root, f"server{i}", server_hcl) for i in range(3)]
        for s, (http, rpc) in zip(servers, ports, strict=True):
            s.http, s.rpc = http, rpc
            s.client = httpx.Client(base_url=f"http://127.0.0.1:{http}", timeout=2)
        https = ", ".join(f'"127.0.0.1:{s.http}"' for s in servers)
        client = Agent(
            root, "client", f"client {{\n  enabled = true\n  servers = [{https}]\n}}\n"
        )
        agents = [*servers, client]
        try:
            for a in agents:
                a.start()
            wait("a leader", lambda: all(s.get("/v1/status/leader") for s in servers), 90)
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
        roles = {
            s.name: ("leader" if leader == f"127.0.0.1:{s.rpc}" else "follower") for s in servers
        }
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
