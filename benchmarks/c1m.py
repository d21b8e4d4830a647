"""Nomad's C1M, scaled to this machine: a million allocations through a 3-server cluster.

A real gitorch server (eval broker, scheduler workers, plan applier) leads a real
pysyncobj cluster on 127.0.0.1 whose two followers are processes of their own (see
``placements_raft.leader_cluster``). ``--nodes`` simulated nodes (default 5,000) are
registered through Raft, then jobs of ``--job-size`` allocations (default 1,000) are
registered back to back, a few in flight at once, until ``--allocs`` allocations
(default 1,000,000; ``--quick``: 100,000) are placed and committed. Reported:

- placements per second for each 100,000-allocation slice (with the CPU seconds each
  server process spent on it), the last slice's rate as a
  share of the first's (goal >= 80 %) and the whole run's rate (goal >= 3,750/s,
  Nomad's C1M);
- leader and follower RSS at the end (goal <= 2 GiB each);
- the followers' state digests against the leader's (identical);
- a follower restarted from its data dir: seconds until it has caught up, and the
  size of what it restarted from (journal and dump files).

    python benchmarks/c1m.py [--quick] [--allocs N] [--nodes 5000] [--job-size 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil
from placements_raft import become_leader, digest, follower, free_port, sim_node

from gitorch.core import commands as c
from gitorch.core.model import Job, Resources, Task, TaskGroup
from gitorch.errors import NotLeaderError
from gitorch.server.fsm import Fsm
from gitorch.server.gcpolicy import tune_for_large_state
from gitorch.server.log import RaftLog
from gitorch.server.server import Server

SLICE = 100_000
IN_FLIGHT = 4


def job(n: int, size: int) -> Job:
    task = Task(name="t", driver="mock", resources=Resources(cpu=20, memory_mb=32))
    return Job(id=f"c1m-{n:05d}", task_groups=[TaskGroup(name="g", count=size, tasks=[task])])


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Cluster:
    """A leading gitorch server in this process; followers in processes of their own
    (pysyncobj and the FSM only), each answering a digest once it reaches an index."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.addrs = [f"127.0.0.1:{free_port()}" for _ in range(3)]
        self.ctx = mp.get_context("spawn")
        # One stop event per follower: a follower killed while waiting on a shared event
        # could leave its lock held, and setting the event would then hang.
        self.stops: dict[str, Any] = {}
        self.followers: dict[str, tuple[Any, Connection]] = {}
        for addr in self.addrs[1:]:
            self.spawn(addr)
        self.fsm = Fsm()
        self.log = RaftLog(self.fsm, self.addrs[0], self.addrs, tmp / self.addrs[0])
        self.server = Server(
            self.fsm, self.log, num_workers=2, heartbeat_ttl_s=3600, heartbeat_grace_s=3600
        )
        self.leader_changes = 0

    def regain(self) -> None:
        """A follower won an election (a starved leader misses its heartbeats on a busy
        machine): take leadership back and rebuild the broker from state, as a new
        leader does, so the run goes on. Counted in the report."""
        self.leader_changes += 1
        become_leader(self.log, self.addrs[0])
        self.server.set_leader(False)
        self.server.set_leader(True)

    def spawn(self, addr: str) -> None:
        parent, child = self.ctx.Pipe()
        self.stops[addr] = stop = self.ctx.Event()
        proc = self.ctx.Process(
            target=follower,
            args=(addr, self.addrs, str(self.tmp / addr), stop, child),
            daemon=True,
        )
        proc.start()
        self.followers[addr] = (proc, parent)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user and system) so far of the leader's process and of each
        follower's, each with its finished children (the forked dump writers)."""

        def total(proc: psutil.Process) -> float:
            t = proc.cpu_times()
            return float(t.user + t.system + t.children_user + t.children_system)

        out = {"leader": total(psutil.Process())}
        for addr, (proc, _) in self.followers.items():
            with contextlib.suppress(psutil.Error):
                out[addr] = total(psutil.Process(proc.pid))
        return out

    def digests(self, index: int) -> list[tuple[int, int, str]]:
        for _, pipe in self.followers.values():
            pipe.send(index)
        return [tuple(pipe.recv()) for _, pipe in self.followers.values()]

    def close(self) -> None:
        self.server.stop()
        for _, pipe in self.followers.values():
            pipe.close()
        for stop in self.stops.values():
            stop.set()
        for proc, _ in self.followers.values():
            proc.join(timeout=20)
            if proc.is_alive():
                proc.kill()


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="gitorch-c1m-") as tmp:
        cl = Cluster(Path(tmp))
        try:
            cl.server.start()
            become_leader(cl.log, cl.addrs[0])
            cl.server.set_leader(True)
            yield cl
        finally:
            cl.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="stop at 100,000 allocations")
    ap.add_argument("--allocs", type=int, default=1_000_000)
    ap.add_argument("--nodes", type=int, default=5_000)
    ap.add_argument("--job-size", type=int, default=1_000)
    args = ap.parse_args()
    target = 100_000 if args.quick else args.allocs
    tune_for_large_state()  # as a server process does
    with cluster() as cl:
        server, fsm, log = cl.server, cl.fsm, cl.log
        t0 = time.perf_counter()
        for i in range(args.nodes):
            log.submit(c.RegisterNode(now=time.time_ns(), node=sim_node(i)))
        nodes_s = time.perf_counter() - t0
        slices: list[dict[str, Any]] = []
        pending: list[str] = []
        submitted = 0
        start = slice_start = time.perf_counter()
        cpu_start = cl.cpu_seconds()
        next_mark = SLICE
        while True:
            placed = len(fsm.state.allocs)
            while placed >= next_mark:
                now, cpu = time.perf_counter(), cl.cpu_seconds()
                slices.append(
                    {
                        "upto": next_mark,
                        "placements_per_s": round(SLICE / (now - slice_start)),
                        "cpu_s": {k: round(v - cpu_start.get(k, 0.0), 1) for k, v in cpu.items()},
                    }
                )
                slice_start, cpu_start, next_mark = now, cpu, next_mark + SLICE
            if placed >= target:
                break
            if not log.is_leader():
                cl.regain()
            pending = [e for e in pending if not _done(fsm, e)]
            if len(pending) < IN_FLIGHT and submitted * args.job_size < target:
                try:
                    pending.append(server.register_job(job(submitted, args.job_size)).eval_id)
                    submitted += 1
                except NotLeaderError:
                    cl.regain()
            else:
                time.sleep(0.002)
        elapsed = time.perf_counter() - start
        placed = len(fsm.state.allocs)
        mine = digest(fsm)
        same = all(d == mine for d in cl.digests(mine[0]))
        rss = {"leader": psutil.Process().memory_info().rss}
        for addr, (proc, _) in cl.followers.items():
            rss[f"follower {addr}"] = psutil.Process(proc.pid).memory_info().rss
        restart = _restart_follower(cl, mine)
    first = slices[0]["placements_per_s"] if slices else 0
    last = slices[-1]["placements_per_s"] if slices else 0
    print(
        json.dumps(
            {
                "benchmark": "c1m",
                "servers": 3,
                "nodes": args.nodes,
                "job_size": args.job_size,
                "allocations": placed,
                "seconds": round(elapsed, 1),
                "placements_per_s": round(placed / elapsed),
                "slices": slices,
                "last_vs_first_slice": round(last / first, 2) if first else None,
                "rss_mib": {k: round(v / 2**20) for k, v in rss.items()},
                "followers_same_state": same,
                "leader_changes": cl.leader_changes,
                "node_registrations_per_s": round(args.nodes / nodes_s),
                **restart,
                "goal_placements_per_s": 3750,
                "goal_last_vs_first_slice": 0.8,
                "goal_rss_mib": 2048,
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


def _done(fsm: Fsm, eval_id: str) -> bool:
    ev = fsm.state.evals.get(eval_id)
    return ev is not None and ev.terminal()


def _restart_follower(cl: Cluster, mine: tuple[int, int, str]) -> dict[str, Any]:
    """Kill one follower's process (SIGKILL), start it again from its data dir, and
    time until it has applied everything the leader had."""
    addr = cl.addrs[1]
    proc, _pipe = cl.followers[addr]
    proc.kill()
    proc.join(timeout=20)
    size = dir_bytes(cl.tmp / addr)
    t0 = time.perf_counter()
    cl.spawn(addr)
    _proc, pipe = cl.followers[addr]
    pipe.send(mine[0])
    theirs = tuple(pipe.recv())
    return {
        "restart_catch_up_s": round(time.perf_counter() - t0, 1),
        "restart_data_dir_mib": round(size / 2**20, 1),
        "restart_same_state": theirs == mine,
    }


if __name__ == "__main__":
    main()
