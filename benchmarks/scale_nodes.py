"""Many simulated client nodes against a real 3-server cluster on 127.0.0.1.

A load process (asyncio, httpx) plays ``--nodes`` clients as real ones behave: each
registers over HTTP (``/v1/internal/node/register``), then heartbeats within the TTL
the servers hand back (half of it, as gitorch's client does) and holds a blocking
watch on its allocations (``/v1/node/:id/allocations?index=&wait=``), re-armed when it
returns. Clients talk to the servers in turn: followers relay heartbeats and
registrations to the leader and answer the watches (``?stale``, as Nomad's clients ask)
from their own state. After ``--seconds`` of steady state the benchmark reports:

- false node-down events: nodes the servers ever listed as not ready while their
  simulated client kept beating (goal 0);
- heartbeat round-trip p50/p99 and registrations per second;
- each server's CPU share and RSS over the steady state.

    python benchmarks/scale_nodes.py [--nodes 1000 10000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from agents import Agent, start_servers
from rawhttp import Conn, HttpError

WATCH_WAIT = "60s"


def node_body(i: int, node_id: str) -> dict[str, Any]:
    return {
        "ID": node_id,
        "Name": f"sim-{i}",
        "Datacenter": "dc1",
        "NodeClass": f"class-{i % 10}",
        "Attributes": {"kernel.name": "linux", "cpu.arch": "amd64"},
        "Drivers": {"mock": {"Detected": True, "Healthy": True}},
        "NodeResources": {"Cpu": {"CpuShares": 4000}, "Memory": {"MemoryMB": 8192}},
    }


BEAT_CONNS = 64  # heartbeat connections per server, shared by its nodes
REGISTER_CONCURRENCY = 64


class Load:
    """The simulated clients. Requests go through :mod:`rawhttp` (httpx costs the load
    process milliseconds of CPU per request: at 10,000 clients it, not the servers,
    would be measured). Each node holds its own connection for its allocation watch;
    heartbeats share a few connections per server."""

    def __init__(self, addresses: list[str], count: int) -> None:
        self.addresses = addresses
        self.ids = [str(uuid.uuid4()) for _ in range(count)]
        self.ttl: dict[str, float] = {}
        self.rtts: list[float] = []
        self.errors: dict[str, int] = {}
        self.watches = 0
        self.stop = asyncio.Event()
        self.beat_conns = [[Conn.to(a) for _ in range(BEAT_CONNS)] for a in addresses]
        self.conns: list[Conn] = [c for per in self.beat_conns for c in per]

    def server(self, i: int) -> int:
        return i % len(self.addresses)

    def _error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def register_all(self, registered: Callable[[int], None]) -> float:
        """Register every node (``REGISTER_CONCURRENCY`` at a time); ``registered(i)``
        starts node i's heartbeats and watch at once, as a real client does."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(len(self.ids)):
            queue.put_nowait(i)

        async def worker(w: int) -> None:
            conns = [Conn.to(a) for a in self.addresses]
            self.conns.extend(conns)
            while not queue.empty():
                i = queue.get_nowait()
                for _ in range(20):
                    try:
                        status, _, body = await conns[self.server(i)].request(
                            "POST", "/v1/internal/node/register", node_body(i, self.ids[i])
                        )
                        if status == 200:
                            self.ttl[self.ids[i]] = json.loads(body)["HeartbeatTTL"] / 1e9
                            registered(i)
                            break
                        self._error(f"register {status}")
                    except HttpError as exc:
                        self._error(f"register {str(exc).split(':')[0]}")
                    await asyncio.sleep(0.5)

        t0 = time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(REGISTER_CONCURRENCY)))
        return time.monotonic() - t0

    async def beat(self, i: int, measure: list[bool]) -> None:
        node_id = self.ids[i]
        conn = self.beat_conns[self.server(i)][(i // len(self.addresses)) % BEAT_CONNS]
        while not self.stop.is_set():
            # Beat within half the TTL the servers gave, as gitorch's client does.
            try:
                await asyncio.wait_for(self.stop.wait(), self.ttl.get(node_id, 10.0) / 2)
            except TimeoutError:
                pass
            if self.stop.is_set():
                return
            t0 = time.monotonic()
            try:
                status, _, body = await conn.request(
                    "POST", f"/v1/internal/node/{node_id}/heartbeat"
                )
                if status == 200:
                    self.ttl[node_id] = json.loads(body)["HeartbeatTTL"] / 1e9
                    if measure[0]:
                        self.rtts.append(time.monotonic() - t0)
                else:
                    self._error(f"heartbeat {status}")
            except HttpError as exc:
                self._error(f"heartbeat {str(exc).split(':')[0]}")

    async def watch(self, i: int) -> None:
        node_id = self.ids[i]
        conn = Conn.to(self.addresses[self.server(i)])
        self.conns.append(conn)
        index = 1
        path = f"/v1/node/{node_id}/allocations?wait={WATCH_WAIT}&stale=&index="
        while not self.stop.is_set():
            try:
                self.watches += 1
                status, headers, _ = await conn.request("GET", f"{path}{index}", timeout=90)
                self.watches -= 1
                if status == 200:
                    index = max(index, int(headers.get("x-nomad-index", index)))
                else:
                    self._error(f"watch {status}")
                    await asyncio.sleep(1)
            except HttpError as exc:
                self.watches -= 1
                self._error(f"watch {str(exc).split(':')[0]}")
                await asyncio.sleep(1)


async def observe(leader: Agent, load: Load, stop: asyncio.Event, downs: set[str]) -> None:
    """Follow the leader's Node events; remember every simulated node ever shown not
    ready. (Polling ``/v1/nodes`` would have the leader encode the whole node list
    every few seconds: at 10,000 nodes the observer would load what it observes.)"""
    ours = set(load.ids)

    async def follow() -> None:
        async with (
            httpx.AsyncClient(base_url=f"http://{leader.address}", timeout=None) as http,
            http.stream("GET", "/v1/event/stream", params={"topic": "Node"}) as resp,
        ):
            async for line in resp.aiter_lines():
                if not line.strip():
                    continue
                for event in json.loads(line).get("Events") or []:
                    node = (event.get("Payload") or {}).get("Node") or {}
                    if node.get("ID") in ours and node.get("Status") != "ready":
                        downs.add(node["ID"])

    while not stop.is_set():
        follower = asyncio.create_task(follow())
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({follower, waiter}, return_when=asyncio.FIRST_COMPLETED)
        follower.cancel()
        waiter.cancel()
        await asyncio.gather(follower, waiter, return_exceptions=True)
        if not stop.is_set():
            await asyncio.sleep(1)  # the stream broke: follow again


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


async def run(servers: list[Agent], leader: Agent, count: int, seconds: float) -> dict[str, Any]:
    load = Load([s.address for s in servers], count)
    try:
        measure = [False]
        tasks: list[asyncio.Task[None]] = []

        def registered(i: int) -> None:
            tasks.append(asyncio.create_task(load.beat(i, measure)))
            tasks.append(asyncio.create_task(load.watch(i)))

        downs: set[str] = set()
        observer = asyncio.create_task(observe(leader, load, load.stop, downs))
        reg_s = await load.register_all(registered)
        await asyncio.sleep(5)  # the watches and the first beats settle
        procs = {s.name: psutil.Process(s.proc.pid) for s in servers if s.proc}
        me = psutil.Process()
        before = {n: cpu_seconds(p) for n, p in procs.items()}
        load_before = cpu_seconds(me)
        measure[0] = True
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        wall = time.monotonic() - t0
        after = {n: cpu_seconds(p) for n, p in procs.items()}
        load_cpu = round(100 * (cpu_seconds(me) - load_before) / wall, 1)
        rss = {n: round(p.memory_info().rss / 2**20, 1) for n, p in procs.items()}
        load.stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, observer, return_exceptions=True)
    finally:
        await asyncio.gather(*(c.close() for c in load.conns), return_exceptions=True)
    rtts = sorted(load.rtts)

    def pct(q: float) -> float | None:
        return round(rtts[min(len(rtts) - 1, int(q * len(rtts)))] * 1000, 2) if rtts else None

    ttls = sorted(load.ttl.values())
    return {
        "nodes": count,
        "registered": len(load.ttl),
        "registrations_per_s": round(count / reg_s, 1),
        "steady_seconds": round(wall, 1),
        "false_node_down": len(downs),
        "heartbeats": len(rtts),
        "heartbeats_per_s": round(len(rtts) / wall, 1),
        "heartbeat_rtt_p50_ms": pct(0.5),
        "heartbeat_rtt_p99_ms": pct(0.99),
        "heartbeat_ttl_s_min_max": [round(ttls[0], 1), round(ttls[-1], 1)] if ttls else None,
        "server_cpu_percent": {n: round(100 * (after[n] - before[n]) / wall, 1) for n in procs},
        "server_rss_mib": rss,
        "load_process_cpu_percent": load_cpu,
        "errors": load.errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    results = []
    for count in args.nodes:
        with tempfile.TemporaryDirectory(prefix="gitorch-scale-") as tmp:
            servers = start_servers(Path(tmp))
            try:
                leader_name = servers[0].get("/v1/status/leader")
                leader = next(s for s in servers if s.raft == leader_name)
                results.append(asyncio.run(run(servers, leader, count, args.seconds)))
            finally:
                for s in servers:
                    s.stop()
    print(
        json.dumps(
            {
                "benchmark": "scale_nodes",
                "servers": 3,
                "runs": results,
                "goal_false_node_down": 0,
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
