"""Raft commit latency and throughput of gitorch.server.raft on a real 3-node cluster.

Each node runs in its own process (one GIL each) on 127.0.0.1; the writers are threads
in the leader's process, as the HTTP layer's would be. Prints one JSON object.

    python benchmarks/raft_commits.py [--entry-bytes 200] [--seconds 5] [--state-mb 50]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _CountTruncations(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "truncating already-applied" in record.getMessage():
            self.count += 1


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3, 3)


def _node(addr: str, peers: list[str], data_dir: str, state_mb: int, conn: Connection) -> None:
    from gitorch.server.raft import RaftNode

    logging.basicConfig(level=logging.ERROR)
    counter = _CountTruncations()
    logging.getLogger("pysyncobj").addHandler(counter)
    ballast = bytes(state_mb << 20)  # a large state, to time full dumps
    applied: list[int] = [0]

    def apply(entry: bytes) -> int:
        applied[0] += 1
        return applied[0]

    def snapshot() -> bytes:
        return ballast + applied[0].to_bytes(8, "big")

    def restore(data: bytes) -> None:
        applied[0] = int.from_bytes(data[-8:], "big")

    node = RaftNode(addr, peers, Path(data_dir), apply, snapshot, restore)
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                break
            if msg[0] == "status":
                conn.send((node.is_leader(), node.applied_index(), counter.count))
            elif msg[0] == "bench":
                conn.send(_bench(node, *msg[1:]))
    finally:
        node.close()


def _timed(node: Any, entry: bytes, until: list[float], n: int, out: list[float]) -> None:
    for _ in range(n):
        if time.perf_counter() >= until[0]:
            return
        t0 = time.perf_counter()
        node.submit(entry)
        out.append(time.perf_counter() - t0)


def _payload(size: int) -> bytes:
    """Allocation-like msgpack records (~180 bytes each) of at least ``size`` bytes.
    Random bytes would misstate the cost: pysyncobj zlib-compresses every message."""
    import uuid

    import msgspec

    allocs: list[dict[str, Any]] = []
    while len(msgspec.msgpack.encode(allocs)) < size:
        allocs.append(
            {
                "ID": str(uuid.uuid4()),
                "NodeID": str(uuid.uuid4()),
                "JobID": "web",
                "TaskGroup": "frontend",
                "Resources": {"CPU": 500, "MemoryMB": 256},
                "CreateIndex": len(allocs),
            }
        )
    return msgspec.msgpack.encode(allocs)


def _bench(node: Any, entry_bytes: int, seconds: float, state_mb: int) -> dict[str, Any]:
    entry = _payload(entry_bytes)
    res: dict[str, Any] = {}
    _timed(node, entry, [time.perf_counter() + 2], 300, [])  # warm up
    one: list[float] = []
    _timed(node, entry, [time.perf_counter() + seconds], 10**9, one)
    res["one_writer_commits"] = len(one)
    res["one_writer_p50_ms"] = _pct(one, 0.50)
    res["one_writer_p99_ms"] = _pct(one, 0.99)
    res["one_writer_commits_per_s"] = round(len(one) / sum(one))
    lats: list[list[float]] = [[] for _ in range(8)]
    until = [time.perf_counter() + seconds]
    threads = [
        threading.Thread(target=_timed, args=(node, entry, until, 10**9, lats[i])) for i in range(8)
    ]
    index0, t0 = node.applied_index(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    eight = [x for lat in lats for x in lat]
    res["eight_writers_commits_per_s"] = round(len(eight) / elapsed)
    res["eight_writers_p50_ms"] = _pct(eight, 0.50)
    res["eight_writers_p99_ms"] = _pct(eight, 0.99)
    res["eight_writers_entries_per_log_entry"] = round(
        len(eight) / (node.applied_index() - index0), 2
    )
    if state_mb:  # one writer while a full dump of a state_mb state runs
        during: list[float] = []
        stop = [time.perf_counter() + 60]
        writer = threading.Thread(target=_timed, args=(node, entry, stop, 10**9, during))
        writer.start()
        time.sleep(0.3)
        t_dump = time.perf_counter()
        ok = node.compact(timeout=30)
        res[f"dump_{state_mb}mb_seconds"] = round(time.perf_counter() - t_dump, 2) if ok else None
        time.sleep(0.3)
        stop[0] = time.perf_counter()
        writer.join()
        res[f"dump_{state_mb}mb_max_write_ms"] = round(max(during) * 1e3, 1)
        res[f"dump_{state_mb}mb_p99_write_ms"] = _pct(during, 0.99)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entry-bytes", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--state-mb", type=int, default=50)
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    addrs = [f"127.0.0.1:{_free_port()}" for _ in range(3)]
    procs, conns = [], []
    with tempfile.TemporaryDirectory(prefix="raft-bench-") as tmp:
        for i, addr in enumerate(addrs):
            parent, child = ctx.Pipe()
            data_dir = os.path.join(tmp, f"n{i}")
            p = ctx.Process(target=_node, args=(addr, addrs, data_dir, args.state_mb, child))
            p.start()
            procs.append(p)
            conns.append(parent)
        try:
            leader = None
            deadline = time.monotonic() + 30
            while leader is None and time.monotonic() < deadline:
                time.sleep(0.1)
                for c in conns:
                    c.send(("status",))
                leaders = [i for i, c in enumerate(conns) if c.recv()[0]]
                leader = leaders[0] if len(leaders) == 1 else None
            if leader is None:
                sys.exit("no leader elected within 30 s")
            conns[leader].send(("bench", args.entry_bytes, args.seconds, args.state_mb))
            result = conns[leader].recv()
            time.sleep(0.5)
            for c in conns:
                c.send(("status",))
            statuses = [c.recv() for c in conns]
            result["follower_truncation_warnings"] = sum(s[2] for s in statuses)
            result["applied_index_per_node"] = [s[1] for s in statuses]
            result["entry_bytes_at_least"] = args.entry_bytes
            result["cpus"] = os.cpu_count()
            result["python"] = ".".join(map(str, sys.version_info[:3]))
            print(json.dumps(result, indent=2))
        finally:
            for c in conns:
                c.send(("stop",))
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.kill()


if __name__ == "__main__":
    main()
