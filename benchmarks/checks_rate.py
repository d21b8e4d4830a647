"""Client checks per second: one client agent running 500 http checks at a 1 s interval,
and the CPU share that costs it.

Starts one server agent (with a GitOps repo in a temp dir) and one client-only agent
(raw_exec on), and a small HTTP server in this process on 127.0.0.1 that counts the
requests it answers. The job has ``--allocs`` allocations (default 5) of one sleeping
raw_exec task, each with a service of ``--checks`` http checks (default 100) against
that server. Once every check reports success, it counts the requests answered and the
client agent's CPU time (user + system, psutil, the agent process and its children)
over ``--seconds`` (default 20) and prints one JSON object.

    python benchmarks/checks_rate.py [--allocs 5] [--checks 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
from agents import Agent, wait


class Counter(BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        with Counter.lock:
            Counter.count += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def job(allocs: int, checks: int, port: int) -> str:
    blocks = "".join(
        f"""
      check {{
        name     = "c{i}"
        type     = "http"
        path     = "/{i}"
        interval = "1s"
        timeout  = "1s"
      }}"""
        for i in range(checks)
    )
    return f"""
job "checked" {{
  group "g" {{
    count = {allocs}
    service {{
      name = "checked"
      port = "{port}"
      {blocks}
    }}
    task "sleep" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sleep"
        args    = ["3600"]
      }}
      resources {{
        cpu    = 10
        memory = 16
      }}
    }}
  }}
}}
"""


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


def all_passing(server: Agent, allocs: int, checks: int) -> bool:
    found = server.get("/v1/job/checked/allocations") or []
    running = [a for a in found if a.get("ClientStatus") == "running"]
    if len(running) < allocs:
        return False
    for a in running:
        results = server.get(f"/v1/allocation/{a['ID']}/checks") or {}
        if len(results) < checks or any(r["Status"] != "success" for r in results.values()):
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--allocs", type=int, default=5)
    ap.add_argument("--checks", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    target = ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="gitorch-checks-") as tmp:
        root = Path(tmp)
        repo = root / "repo"
        (repo / "jobs").mkdir(parents=True)
        (repo / "jobs" / "checked.nomad.hcl").write_text(
            job(args.allocs, args.checks, target.server_address[1])
        )
        git = ["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b"]
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "checked"], check=True)
        server, client = Agent(root, "server"), Agent(root, "client")
        try:
            server.start(
                "server {\n  enabled = true\n  bootstrap_expect = 1\n}\n"
                f'gitops {{\n  repo = "{repo}"\n  path = "jobs"\n  poll_interval = "1s"\n}}\n'
            )
            wait("a leader", lambda: server.get("/v1/status/leader"), 60)
            client.start(
                f'client {{\n  enabled = true\n  servers = ["{server.address}"]\n}}\n'
                'plugin "raw_exec" {\n  config {\n    enabled = true\n  }\n}\n'
            )
            t0 = time.monotonic()
            wait("every check passing", lambda: all_passing(server, args.allocs, args.checks), 180)
            ready_s = time.monotonic() - t0
            time.sleep(3)  # past the first burst: every check on its own 1 s cadence
            assert client.proc is not None
            proc = psutil.Process(client.proc.pid)
            cpu0, n0, w0 = cpu_seconds(proc), Counter.count, time.monotonic()
            time.sleep(args.seconds)
            cpu1, n1, w1 = cpu_seconds(proc), Counter.count, time.monotonic()
            rss = proc.memory_info().rss
            threads = proc.num_threads()
        finally:
            client.stop()
            server.stop()
            target.shutdown()
    wall = w1 - w0
    total = args.allocs * args.checks
    rate = (n1 - n0) / wall
    print(
        json.dumps(
            {
                "benchmark": "checks_rate",
                "checks": total,
                "interval_s": 1.0,
                "seconds": round(wall, 1),
                "checks_per_second": round(rate, 1),
                "expected_per_second": total,
                "client_cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / wall, 1),
                "client_rss_mib": round(rss / 2**20, 1),
                "client_threads": threads,
                "seconds_until_all_passing": round(ready_s, 1),
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
