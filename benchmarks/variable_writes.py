"""Variable writes per second through a 3-server cluster: real server agents on
127.0.0.1, ``--writers`` threads (default 8) each putting variables
(``PUT /v1/var/bench/<writer>/<n>``, two items, ~100 bytes) through the leader's HTTP
API for ``--seconds`` (default 15), plus a run of one writer alone for its latency.
Every write is encrypted by the leader's keyring and committed through Raft before the
200. Prints one JSON object: writes per second, latency p50/p99, and how many writes
failed (non-200).

    python benchmarks/variable_writes.py [--writers 8] [--seconds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from agents import leader_of, start_servers


def run(base: str, writers: int, seconds: float, prefix: str) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(writers)]
    failures = [0] * writers
    start = threading.Barrier(writers + 1)
    deadline = [0.0]

    def writer(w: int) -> None:
        with httpx.Client(base_url=base, timeout=10) as http:
            start.wait()
            n = 0
            while time.monotonic() < deadline[0]:
                body = {"Items": {"user": f"u{w}", "password": f"secret-{n:08d}"}}
                t0 = time.perf_counter()
                r = http.put(f"/v1/var/{prefix}/{w}/{n}", json=body)
                latencies[w].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    failures[w] += 1
                n += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + seconds
    t0 = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    flat = sorted(x for lat in latencies for x in lat)
    ok = len(flat) - sum(failures)
    return {
        "writers": writers,
        "seconds": round(wall, 1),
        "writes": len(flat),
        "failed": sum(failures),
        "writes_per_second": round(ok / wall, 1),
        "latency_ms_p50": round(1000 * statistics.median(flat), 2) if flat else None,
        "latency_ms_p99": round(1000 * flat[int(0.99 * (len(flat) - 1))], 2) if flat else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitorch-vars-") as tmp:
        servers = start_servers(Path(tmp))
        try:
            leader = leader_of(servers)
            base = f"http://{leader.address}"
            run(base, 2, 2.0, "warmup")
            many = run(base, args.writers, args.seconds, "bench")
            one = run(base, 1, min(args.seconds, 10.0), "single")
            listed = httpx.get(f"{base}/v1/vars", params={"prefix": "bench/0/"}, timeout=30)
            stored = len(listed.json()) if listed.status_code == 200 else None
        finally:
            for s in servers:
                s.stop()
    print(
        json.dumps(
            {
                "benchmark": "variable_writes",
                "servers": 3,
                "concurrent": many,
                "one_writer": one,
                "writer_0_variables_listed": stored,
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
