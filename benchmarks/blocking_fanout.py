"""Blocking-query fan-out: ``--watchers`` concurrent blocked
``GET /v1/node/:id/allocations?index=N`` requests (as that many client agents would
hold) on one agent's HTTP API (uvicorn over an in-memory server), all woken by one
change to the node's allocations; the figure is the time from that change (the write
returning) until every watcher has its answer, and until the first.

Prints JSON. ``--rounds`` repeats the wake-up on the same parked watchers.

    python benchmarks/blocking_fanout.py [--watchers 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import statistics
import threading
import time
import uuid

import uvicorn

from gitorch.api import http as api_http
from gitorch.api.app import make_app
from gitorch.core import commands as c
from gitorch.core.model import Job, Node, Placement, Plan, Task, TaskGroup
from gitorch.server.server import Server

NODE = "b10c0000-0000-4000-8000-000000000001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def change(server: Server, n: int) -> int:
    """One new allocation on the node: the change every watcher waits for."""
    plan = Plan(
        eval_id=str(uuid.uuid4()),
        job_id="fan",
        placements=[Placement(id=str(uuid.uuid4()), task_group="g", index=n, node_id=NODE)],
    )
    return server.log.submit(c.ApplyPlan(now=time.time_ns(), plan=plan)).index


def parked() -> int:
    stats = api_http._WAIT_LIMITER.statistics()  # noqa: SLF001 - the benchmark's own probe
    return int(stats.borrowed_tokens + stats.tasks_waiting)


async def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET on its own connection, with asyncio streams: httpx's pool costs
    far more than the server with thousands of connections open at once."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    writer.close()
    return status, headers, body


async def one_round(port: int, server: Server, watchers: int, n: int) -> dict[str, float]:
    index = server.state.table_index["allocs"]
    done: list[float] = []
    path = f"/v1/node/{NODE}/allocations?index={index}&wait=5m"

    async def watch() -> None:
        status, headers, _ = await get(port, path)
        assert status == 200 and int(headers["x-nomad-index"]) > index, (status, headers)
        done.append(time.perf_counter())

    tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
    t_park = time.perf_counter()
    while parked() < watchers:
        await asyncio.sleep(0.05)
        if time.perf_counter() - t_park > 300:
            raise SystemExit(f"only {parked()} of {watchers} watchers parked after 300 s")
    park_s = time.perf_counter() - t_park
    await asyncio.sleep(0.5)
    t0 = time.perf_counter()
    await asyncio.to_thread(change, server, n)
    written = time.perf_counter()
    await asyncio.gather(*tasks)
    return {
        "park_all_s": round(park_s, 2),
        "write_ms": round((written - t0) * 1000, 2),
        "first_answer_ms": round((min(done) - written) * 1000, 2),
        "all_answered_ms": round((max(done) - written) * 1000, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--watchers", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.watchers)), hard))
    server = Server.in_memory(num_workers=1, heartbeat_ttl_s=3600.0)
    server.register_node(Node(id=NODE, name="fan"))
    task = Task(name="t", driver="raw_exec")
    server.log.submit(c.RegisterJob(now=time.time_ns(), job=Job(id="fan", task_groups=[
        TaskGroup(name="g", tasks=[task])])))  # fmt: skip
    change(server, 0)  # an index to block on (a query at index 0 answers at once)
    port = free_port()
    http = uvicorn.Server(
        uvicorn.Config(make_app(server), host="127.0.0.1", port=port, log_level="warning",
                       backlog=args.watchers * 2, limit_concurrency=args.watchers * 2)
    )  # fmt: skip
    threading.Thread(target=http.run, daemon=True).start()
    while not http.started:
        time.sleep(0.02)
    rounds = [
        asyncio.run(one_round(port, server, args.watchers, n)) for n in range(1, args.rounds + 1)
    ]
    alls = [r["all_answered_ms"] for r in rounds]
    print(json.dumps({
        "benchmark": "blocking_fanout",
        "watchers": args.watchers,
        "thread_limiter": int(api_http._WAIT_LIMITER.total_tokens),  # noqa: SLF001
        "rounds": rounds,
        "all_answered_ms_median": round(statistics.median(alls), 2),
    }, indent=2))  # fmt: skip
    http.should_exit = True
    server.stop()


if __name__ == "__main__":
    main()
