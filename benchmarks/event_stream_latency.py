"""Event stream delivery latency: from a state change to its frame on
``/v1/event/stream``, through a real HTTP server over an in-memory server.

Opens one stream (``topic=Node``) and ``--subscribers - 1`` more that also read, then
flips a node's eligibility ``--changes`` times; for each change it times from sending
the request to reading its Node frame on the first stream. Prints one JSON object
with p50/p99/max in milliseconds.

    python benchmarks/event_stream_latency.py [--changes 200] [--subscribers 10]
"""

from __future__ import annotations

import argparse
import json
import queue
import socket
import statistics
import threading
import time

import httpx
import uvicorn

from gitorch.api.app import make_app
from gitorch.core.model import Node
from gitorch.server.server import Server

NODE = "be4c0000-0000-4000-8000-000000000001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def reader(url: str, out: queue.Queue[float] | None, stop: threading.Event) -> None:
    with httpx.Client(timeout=30) as client:
        with client.stream("GET", f"{url}/v1/event/stream", params={"topic": "Node"}) as r:
            for line in r.iter_lines():
                if stop.is_set():
                    return
                if out is not None and line.strip() not in ("", "{}"):
                    out.put(time.perf_counter())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--subscribers", type=int, default=10)
    args = ap.parse_args()
    server = Server.in_memory()
    server.register_node(Node(id=NODE, name="bench"))
    server.events.heartbeat_s = 1.0
    port = free_port()
    http = uvicorn.Server(
        uvicorn.Config(make_app(server), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=http.run, daemon=True).start()
    while not http.started:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    arrivals: queue.Queue[float] = queue.Queue()
    stop = threading.Event()
    threads = [threading.Thread(target=reader, args=(url, arrivals, stop), daemon=True)]
    threads += [
        threading.Thread(target=reader, args=(url, None, stop), daemon=True)
        for _ in range(args.subscribers - 1)
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)  # every stream open
    latencies: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(args.changes):
            value = "ineligible" if i % 2 == 0 else "eligible"
            sent = time.perf_counter()
            client.post(f"/v1/node/{NODE}/eligibility", json={"Eligibility": value})
            latencies.append((arrivals.get(timeout=10) - sent) * 1000)
    stop.set()
    http.should_exit = True
    server.stop()
    latencies.sort()
    print(
        json.dumps(
            {
                "benchmark": "event_stream_latency",
                "changes": args.changes,
                "subscribers": args.subscribers,
                "what": "ms from sending the eligibility change to reading its Node frame",
                "p50_ms": round(statistics.median(latencies), 2),
                "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
                "max_ms": round(latencies[-1], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
