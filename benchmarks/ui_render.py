"""Web UI page cost with a large state: server time to first byte and page size (raw and
gzip on the wire) of ``/ui/``, ``/ui/jobs``, one ``/ui/job/<id>``, ``/ui/nodes`` and
``/ui/topology`` on one agent's HTTP app (uvicorn over an in-memory server) holding
1,000 nodes in 3 datacenters, 1,000 jobs and 10,000 allocations.

State is seeded through the server's log by ``benchmarks/seed.py``, as for
``benchmarks/api_throughput.py`` (RegisterJob without evaluations, one ApplyPlan per
job placing its allocations), so nothing is scheduled while the figures are taken. A
page renders its whole body before the first byte (server-side HTML), so time to first
byte is the server's time. Each page is fetched ``--repeat`` times one after another;
the median and the worst are printed. With ``--acl`` the app has ACLs on and the pages
are fetched with a static management token, so each of a page's in-process API calls
resolves the token. Prints JSON.

    python benchmarks/ui_render.py [--nodes 1000] [--jobs 1000] [--allocs 10000] [--repeat 5]
        [--acl]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import httpx
from seed import place, register_job, register_nodes, serve

from gitorch.api.app import make_app
from gitorch.server.server import Server


def seed(server: Server, nodes: int, jobs: int, allocs: int) -> list[str]:
    node_ids = register_nodes(
        server, nodes, cpu=8000, memory_mb=16384, disk_mb=100_000, datacenters=3
    )
    per_job = max(allocs // max(jobs, 1), 1)
    placed = 0
    for j in range(jobs):
        count = min(per_job, allocs - placed)
        job_id = f"job-{j:05d}"
        register_job(server, job_id, count, cpu=100, memory_mb=128)
        place(server, job_id, [(k, node_ids[(placed + k) % nodes]) for k in range(count)])
        placed += count
    return node_ids


def measure(client: httpx.Client, path: str, repeat: int) -> dict[str, float]:
    ttfb: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with client.stream("GET", path, headers={"Accept-Encoding": "gzip"}) as r:
            ttfb.append(time.perf_counter() - t0)  # headers come after the whole render
            assert r.status_code == 200, (path, r.status_code, r.read()[-800:])
            r.read()
            gzip_bytes = r.num_bytes_downloaded
    raw = client.get(path, headers={"Accept-Encoding": "identity"})
    assert raw.status_code == 200
    return {
        "ttfb_ms_median": round(statistics.median(ttfb) * 1000, 1),
        "ttfb_ms_max": round(max(ttfb) * 1000, 1),
        "bytes_raw": len(raw.content),
        "bytes_gzip": gzip_bytes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--allocs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--acl", action="store_true", help="ACLs on, a management token")
    args = ap.parse_args()
    server = Server.in_memory(num_workers=1)
    t0 = time.perf_counter()
    seed(server, args.nodes, args.jobs, args.allocs)
    seeded = time.perf_counter() - t0
    token = "bench-management-token"
    http, url = serve(make_app(server, acl_tokens={token} if args.acl else None))
    headers = {"X-Nomad-Token": token} if args.acl else {}
    pages = ("/ui/", "/ui/jobs", "/ui/job/job-00000", "/ui/nodes", "/ui/topology")
    figures = {}
    with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
        assert len(client.get("/v1/allocations").json()) == args.allocs
        client.get("/ui/")  # warm the templates
        for path in pages:
            figures[path] = measure(client, path, args.repeat)
    print(json.dumps({
        "benchmark": "ui_render", "nodes": args.nodes, "jobs": args.jobs,
        "allocations": args.allocs, "acl": args.acl, "repeat": args.repeat,
        "seed_s": round(seeded, 2),
        "pages": figures,
    }, indent=2))  # fmt: skip
    http.should_exit = True
    server.stop()


if __name__ == "__main__":
    main()
