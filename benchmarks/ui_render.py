"""Web UI page cost with a large state: server time to first byte and page size (raw and
gzip on the wire) of ``/ui/``, ``/ui/jobs``, one ``/ui/job/<id>``, ``/ui/nodes`` and
``/ui/topology`` on one agent's HTTP app (uvicorn over an in-memory server) holding
1,000 nodes in 3 datacenters, 1,000 jobs and 10,000 allocations.

State is seeded through the server's log as ``benchmarks/api_throughput.py`` does
(RegisterJob without evaluations, one ApplyPlan per job placing its allocations), so
nothing is scheduled while the figures are taken. A page renders its whole body before
the first byte (server-side HTML), so time to first byte is the server's time. Each
page is fetched ``--repeat`` times one after another; the median and the worst are
printed. With ``--acl`` the app has ACLs on and the pages are fetched with a static
management token, so each of a page's in-process API calls resolves the token. Prints
JSON.

    python benchmarks/ui_render.py [--nodes 1000] [--jobs 1000] [--allocs 10000] [--repeat 5]
        [--acl]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
import uuid

import httpx
import uvicorn

from gitorch.api.app import make_app
from gitorch.core import commands as c
from gitorch.core.model import (
    DriverInfo,
    Job,
    Node,
    NodeCpu,
    NodeDisk,
    NodeMemory,
    NodeResources,
    Placement,
    Plan,
    Resources,
    Task,
    TaskGroup,
)
from gitorch.server.server import Server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def job(job_id: str, count: int) -> Job:
    task = Task(name="t", driver="raw_exec", resources=Resources(cpu=100, memory_mb=128))
    return Job(id=job_id, task_groups=[TaskGroup(name="g", count=count, tasks=[task])])


def seed(server: Server, nodes: int, jobs: int, allocs: int) -> list[str]:
    node_ids = [str(uuid.UUID(int=i + 1)) for i in range(nodes)]
    res = NodeResources(
        cpu=NodeCpu(cpu_shares=8000), memory=NodeMemory(memory_mb=16384),
        disk=NodeDisk(disk_mb=100_000),
    )  # fmt: skip
    for i, node_id in enumerate(node_ids):
        server.register_node(
            Node(id=node_id, name=f"node-{i:04d}", datacenter=f"dc{i % 3 + 1}",
                 node_resources=res, status="ready",
                 drivers={"raw_exec": DriverInfo(detected=True, healthy=True)})
        )  # fmt: skip
    per_job = max(allocs // max(jobs, 1), 1)
    placed = 0
    for j in range(jobs):
        count = min(per_job, allocs - placed)
        job_id = f"job-{j:05d}"
        server.log.submit(c.RegisterJob(now=time.time_ns(), job=job(job_id, count)))
        placements = [
            Placement(id=str(uuid.uuid4()), task_group="g", index=k,
                      node_id=node_ids[(placed + k) % nodes])
            for k in range(count)
        ]  # fmt: skip
        placed += count
        plan = Plan(eval_id=str(uuid.uuid4()), job_id=job_id, placements=placements)
        server.log.submit(c.ApplyPlan(now=time.time_ns(), plan=plan))
    return node_ids


def serve(app: object) -> tuple[uvicorn.Server, str]:
    port = free_port()
    http = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    )
    threading.Thread(target=http.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not http.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return http, f"http://127.0.0.1:{port}"


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
