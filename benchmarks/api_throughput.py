"""API read throughput: requests per second and latency percentiles of ``GET /v1/jobs``
(1,000 jobs) and ``GET /v1/allocations`` (10,000 allocations) on one agent's HTTP API
(uvicorn over an in-memory server), with ACLs off and with ACLs on (a client token
whose policy reads the default namespace, so every request resolves the token and
checks the policy).

State is seeded through the server's log (RegisterJob without evaluations, ApplyPlan
with placements), so nothing is scheduled while the figures are taken. Prints JSON.

    python benchmarks/api_throughput.py [--jobs 1000] [--allocs 10000] [--seconds 5]
        [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

import httpx
from seed import place, register_job, register_nodes, serve

from gitorch.api.app import make_app
from gitorch.server.server import Server


def seed(server: Server, jobs: int, allocs: int) -> None:
    [node] = register_nodes(server, 1, cpu=10**9, memory_mb=10**9, disk_mb=10**9)
    for i in range(jobs):
        register_job(server, f"job-{i:05d}", 1, cpu=1, memory_mb=1)
    per_plan = 500
    for start in range(0, allocs, per_plan):
        job_id = f"job-{(start // per_plan) % max(jobs, 1):05d}"
        place(server, job_id, [(i, node) for i in range(start, min(start + per_plan, allocs))])


def load(url: str, path: str, headers: dict[str, str], seconds: float, clients: int,
         expect: int) -> dict[str, float]:  # fmt: skip
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0]
    stop = time.monotonic() + seconds

    def worker(out: list[float]) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                resp = client.get(path)
                out.append(time.perf_counter() - t0)
                if resp.status_code != 200:  # the body is checked once, below: decoding
                    errors[0] += 1  # it here would bill the client's work to the server

    with httpx.Client(base_url=url, headers=headers, timeout=60) as warm:
        first = warm.get(path)
        assert first.status_code == 200, first.text
        assert len(first.json()) == expect, (path, len(first.json()), expect)
    threads = [threading.Thread(target=worker, args=(out,)) for out in latencies]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    flat = sorted(x for out in latencies for x in out)
    q = statistics.quantiles(flat, n=100)
    return {
        "requests": len(flat),
        "requests_per_s": round(len(flat) / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
        "errors": errors[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--allocs", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    server = Server.in_memory(num_workers=1)
    t0 = time.perf_counter()
    seed(server, args.jobs, args.allocs)
    seeded = time.perf_counter() - t0
    open_http, open_url = serve(make_app(server))
    acl_http, acl_url = serve(make_app(server, acl_tokens=set()))
    root = {"X-Nomad-Token": httpx.post(f"{acl_url}/v1/acl/bootstrap").json()["SecretID"]}
    rules = 'namespace "default" {\n  policy = "read"\n}\n'
    httpx.post(f"{acl_url}/v1/acl/policy/read", json={"Rules": rules}, headers=root)
    token = httpx.post(
        f"{acl_url}/v1/acl/token", json={"Type": "client", "Policies": ["read"]}, headers=root
    ).json()["SecretID"]
    reader = {"X-Nomad-Token": token}
    figures = {}
    for name, path, expect in (("jobs", "/v1/jobs", args.jobs),
                               ("allocations", "/v1/allocations", args.allocs)):  # fmt: skip
        figures[f"{name}_no_acl"] = load(open_url, path, {}, args.seconds, args.clients, expect)
        figures[f"{name}_acl_client_token"] = load(
            acl_url, path, reader, args.seconds, args.clients, expect
        )
    print(json.dumps({
        "benchmark": "api_throughput",
        "jobs": args.jobs, "allocations": args.allocs, "clients": args.clients,
        "seconds_per_case": args.seconds, "seed_s": round(seeded, 2),
        **figures,
    }, indent=2))  # fmt: skip
    open_http.should_exit = acl_http.should_exit = True
    server.stop()


if __name__ == "__main__":
    main()
