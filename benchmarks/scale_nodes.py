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


class Load:
    def __init__(self, addresses: list[str], count: int) -> None:
        self.addresses = addresses
        self.ids = [str(uuid.uuid4()) for _ in range(count)]
        self.ttl: dict[str, float] = {}
        self.rtts: list[float] = []
        self.errors: dict[str, int] = {}
        self.watches = 0
        self.stop = asyncio.Event()

    def base(self, i: int) -> str:
        return f"http://{self.addresses[i % len(self.addresses)]}"

    def _error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def register_all(
        self, http: httpx.AsyncClient, concurrency: int, registered: Callable[[int], None]
    ) -> float:
        """Register every node (``concurrency`` at a time); ``registered(i)`` starts node
        i's heartbeats and watch at once, as a real client does."""
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                for _ in range(20):
                    try:
                        r = await http.post(
                            f"{self.base(i)}/v1/internal/node/register",
                            json=node_body(i, self.ids[i]),
                        )
                        if r.status_code == 200:
                            self.ttl[self.ids[i]] = r.json()["HeartbeatTTL"] / 1e9
                            registered(i)
                            return
                        self._error(f"register {r.status_code}")
                    except httpx.HTTPError as exc:
                        self._error(f"register {type(exc).__name__}")
                    await asyncio.sleep(0.5)

        t0 = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(len(self.ids))))
        return time.monotonic() - t0

    async def beat(self, http: httpx.AsyncClient, i: int, measure: list[bool]) -> None:
        node_id = self.ids[i]
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
                r = await http.post(f"{self.base(i)}/v1/internal/node/{node_id}/heartbeat")
                if r.status_code == 200:
                    self.ttl[node_id] = r.json()["HeartbeatTTL"] / 1e9
                    if measure[0]:
                        self.rtts.append(time.monotonic() - t0)
                else:
                    self._error(f"heartbeat {r.status_code}")
            except httpx.HTTPError as exc:
                self._error(f"heartbeat {type(exc).__name__}")

    async def watch(self, http: httpx.AsyncClient, i: int) -> None:
        node_id = self.ids[i]
        index = 1
        while not self.stop.is_set():
            try:
                self.watches += 1
                r = await http.get(
                    f"{self.base(i)}/v1/node/{node_id}/allocations",
                    params={"index": index, "wait": WATCH_WAIT, "stale": ""},
                    timeout=90,
                )
                self.watches -= 1
                if r.status_code == 200:
                    index = max(index, int(r.headers.get("X-Nomad-Index", index)))
                else:
                    self._error(f"watch {r.status_code}")
                    await asyncio.sleep(1)
            except httpx.HTTPError as exc:
                self.watches -= 1
                self._error(f"watch {type(exc).__name__}")
                await asyncio.sleep(1)


async def observe(leader: Agent, load: Load, stop: asyncio.Event, downs: set[str]) -> None:
    """Poll the node list; remember every simulated node ever shown not ready."""
    ours = set(load.ids)
    async with httpx.AsyncClient(base_url=f"http://{leader.address}", timeout=30) as http:
        while not stop.is_set():
            try:
                r = await http.get("/v1/nodes")
                for n in r.json():
                    if n["ID"] in ours and n["Status"] != "ready":
                        downs.add(n["ID"])
            except (httpx.HTTPError, ValueError):
                pass
            try:
                await asyncio.wait_for(stop.wait(), 2.0)
            except TimeoutError:
                pass


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


async def run(servers: list[Agent], leader: Agent, count: int, seconds: float) -> dict[str, Any]:
    load = Load([s.address for s in servers], count)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    # One HTTP client per few nodes: httpcore's pool scans its connections on every
    # request, so one client holding thousands of long polls would be the bottleneck.
    clients = [httpx.AsyncClient(limits=limits, timeout=30) for _ in range(count // 16 + 1)]
    try:
        measure = [False]
        tasks: list[asyncio.Task[None]] = []

        def registered(i: int) -> None:
            tasks.append(asyncio.create_task(load.beat(clients[i // 16], i, measure)))
            tasks.append(asyncio.create_task(load.watch(clients[i // 16], i)))

        downs: set[str] = set()
        observer = asyncio.create_task(observe(leader, load, load.stop, downs))
        reg_s = await load.register_all(clients[0], concurrency=64, registered=registered)
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
        for c in clients:
            await c.aclose()
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
