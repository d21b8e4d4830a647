"""``alloc exec`` sessions and ``fs cat`` reads, timed end to end, against real agents:
a server-only agent and a client-only agent running one raw_exec task.

* exec: ``--sessions`` WebSocket sessions each running ``sh -c 'cat local/note; exit 5'``
  in the task, timed from the connect to the exit frame, asked of the client agent
  (local) and of the server (relayed to the client agent); a session that ends without
  its exit frame counts as lost;
* cat: ``--reads`` ``GET /v1/client/fs/cat`` of the task's file, local and relayed.

Prints JSON. Usage: python benchmarks/client_exec.py [--sessions 200] [--reads 500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import Agent, GitRepo, wait_for  # noqa: E402

JOB = """
job "far" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo far-away > $NOMAD_TASK_DIR/note; exec sleep 600"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
      kill_timeout = "2s"
    }
  }
}
"""


def summary(seconds: list[float]) -> dict[str, Any]:
    ordered = sorted(seconds)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 2),
        "per_s": round(len(ordered) / sum(ordered), 1),
    }


def exec_once(agent: Agent, alloc_id: str) -> bool:
    query = {"task": "t", "command": json.dumps(["/bin/sh", "-c", "cat local/note; exit 5"])}
    url = agent.url.replace("http://", "ws://") + f"/v1/client/allocation/{alloc_id}/exec"
    with connect(f"{url}?{urlencode(query)}", open_timeout=10) as ws:
        ws.send(json.dumps({"stdin": {"close": True}}))
        while True:
            frame = json.loads(ws.recv(timeout=30))
            if frame.get("exited"):
                return bool(frame["result"]["exit_code"] == 5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--reads", type=int, default=500)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-client-exec-"))
    repo = GitRepo(root / "repo")
    repo.commit("far", **{"jobs__far.nomad.hcl": JOB, "jobs__README.md": "jobs\n"})
    server_hcl = root / "server.hcl"
    server_hcl.write_text(
        "server {\n  enabled = true\n  bootstrap_expect = 1\n}\n"
        f'gitops {{\n  repo = "{repo.path}"\n  branch = "main"\n  path = "jobs"\n}}\n'
    )
    server = Agent(root / "server", "-config", str(server_hcl)).start(60)
    client_hcl = root / "client.hcl"
    client_hcl.write_text(
        f'client {{\n  enabled = true\n  servers = ["127.0.0.1:{server.http_port}"]\n}}\n'
        'plugin "raw_exec" {\n  config { enabled = true }\n}\n'
    )
    client = Agent(root / "client", "-config", str(client_hcl))
    try:
        client.start(60)
        alloc_id = wait_for(lambda: server.running("far"), 60, "the task running")[0]["ID"]
        note = {"path": "t/local/note"}
        wait_for(
            lambda: client.http.get(f"/v1/client/fs/cat/{alloc_id}", params=note).text,
            20,
            "the note",
        )
        out: dict[str, Any] = {"sessions": args.sessions, "reads": args.reads}
        for name, agent in (("local", client), ("relayed", server)):
            times, lost = [], 0
            for _ in range(args.sessions):
                start = time.perf_counter()
                try:
                    ok = exec_once(agent, alloc_id)
                except Exception:  # noqa: BLE001 - a lost session is the figure
                    ok = False
                times.append(time.perf_counter() - start)
                lost += 0 if ok else 1
            out[f"exec_{name}"] = {**summary(times), "lost": lost}
            reads = []
            for _ in range(args.reads):
                start = time.perf_counter()
                resp = agent.http.get(f"/v1/client/fs/cat/{alloc_id}", params=note)
                reads.append(time.perf_counter() - start)
                assert resp.status_code == 200, resp.text
            out[f"cat_{name}"] = summary(reads)
        print(json.dumps(out, indent=2))
    finally:
        repo.commit("no more far", **{"jobs__far.nomad.hcl": None})
        server.stop_jobs()
        client.stop()
        server.stop()


if __name__ == "__main__":
    main()
