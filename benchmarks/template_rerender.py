"""Time from a service instance or a variable changing to the dependent runtime template
re-rendered on disk, through a real dev agent.

The agent runs ``web`` (raw_exec, one ``service "web"`` registration per allocation)
and ``dep``, whose task has two ``change_mode = "noop"`` templates: one lists the
instances of ``web`` (``range nomadService "web"``), one prints a variable
(``nomadVar "nomad/jobs/dep"``). Both have ``wait { min = "<--wait-min>" }`` (default
0s: the figure is the watch machinery's, not Nomad's default 5 s of coalescing).

* variables: ``--changes`` writes (``PUT /v1/var/nomad/jobs/dep``), each timed from
  just before the request to the file holding the new value;
* services: ``--changes`` scalings of ``web`` between 1 and 2 (``POST
  /v1/job/web/scale?force=true``), each timed from the moment a blocking query on
  ``/v1/service/web`` sees the new set of instances (the catalog changed) to the file
  listing them; the time from the scale request is reported too;
* idle: the agent process's CPU share over ``--idle-seconds`` afterwards, its template
  watches held in blocking queries (goal: under 2 % of a core).

Prints JSON. Usage: python benchmarks/template_rerender.py [--changes 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import Agent, GitRepo, wait_for  # noqa: E402

WEB = """job "web" {
  group "web" {
    count = 1
    network {
      port "http" {}
    }
    service {
      name = "web"
      port = "http"
    }
    task "server" {
      driver       = "raw_exec"
      kill_timeout = "200ms"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}
"""

DEP = """job "dep" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["3600"]
      }
      template {
        destination = "local/web.txt"
        data        = "{{ range nomadService \\"web\\" }}{{ .Port }} {{ end }}"
        change_mode = "noop"
        wait {
          min = "%(wait)s"
        }
      }
      template {
        destination = "local/var.txt"
        data        = "{{ with nomadVar \\"nomad/jobs/dep\\" }}{{ .v }}{{ end }}"
        change_mode = "noop"
        wait {
          min = "%(wait)s"
        }
      }
      resources {
        cpu    = 10
        memory = 16
      }
    }
  }
}
"""


def read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def until(fn: Any, timeout: float, what: str) -> float:
    """Poll ``fn`` every millisecond; the perf_counter time it first held."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if fn():
            return time.perf_counter()
        time.sleep(0.001)
    raise TimeoutError(what)


def cpu_seconds(proc: psutil.Process) -> float:
    """User and system CPU time of the agent process (its tasks are other groups)."""
    t = proc.cpu_times()
    return float(t.user + t.system)


def figures(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


class CatalogWatch:
    """A blocking query loop on /v1/service/web: each answer's time and set of ports."""

    def __init__(self, url: str) -> None:
        self.seen: list[tuple[float, frozenset[int]]] = []
        self._http = httpx.Client(base_url=url, timeout=70)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            try:
                r = self._http.get("/v1/service/web", params={"index": index, "wait": "5s"})
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            now = time.perf_counter()
            index = int(r.headers.get("X-Nomad-Index", "0"))
            ports = frozenset(int(s["Port"]) for s in r.json()) if r.status_code == 200 else None
            if ports is not None and (not self.seen or self.seen[-1][1] != ports):
                self.seen.append((now, ports))

    def first(self, ports: frozenset[int], after: float) -> float | None:
        """When the catalog first answered ``ports`` after ``after``."""
        return next((t for t, p in list(self.seen) if t >= after and p == ports), None)

    def close(self) -> None:
        self._stop.set()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--changes", type=int, default=50)
    ap.add_argument("--wait-min", default="0s")
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gitorch-bench-"))
    repo = GitRepo(tmp / "repo")
    repo.commit(
        "jobs",
        **{"jobs__web.nomad.hcl": WEB, "jobs__dep.nomad.hcl": DEP % {"wait": args.wait_min}},
    )
    agent = Agent(tmp / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    var_s: list[float] = []
    svc_s: list[float] = []
    svc_from_request_s: list[float] = []
    idle_share = 0.0
    try:
        agent.start()
        agent.http.put("/v1/var/nomad/jobs/dep", json={"Items": {"v": "0"}})
        (dep,) = wait_for(lambda: agent.running("dep"), 60, "dep running")
        local = agent.data_dir / "alloc" / dep["ID"] / "t" / "local"
        until(lambda: read(local / "var.txt") == "0", 30, "first variable render")
        until(lambda: len(read(local / "web.txt").split()) == 1, 60, "one web instance")

        for i in range(1, args.changes + 1):
            t0 = time.perf_counter()
            r = agent.http.put("/v1/var/nomad/jobs/dep", json={"Items": {"v": str(i)}})
            r.raise_for_status()
            t1 = until(lambda i=i: read(local / "var.txt") == str(i), 30, f"variable {i}")
            var_s.append(t1 - t0)

        catalog = CatalogWatch(agent.url)
        for i in range(args.changes):
            count = 2 if i % 2 == 0 else 1
            t0 = time.perf_counter()
            body = {"Count": count, "Target": {"Group": "web"}}
            r = agent.http.post("/v1/job/web/scale", params={"force": "true"}, json=body)
            r.raise_for_status()

            def listed(count: int = count) -> bool:
                ports = read(local / "web.txt").split()
                return len(ports) == count

            t1 = until(listed, 60, f"web scaled to {count}")
            ports = frozenset(int(p) for p in read(local / "web.txt").split())
            t_catalog = catalog.first(ports, t0)
            if t_catalog is not None:
                svc_s.append(max(0.0, t1 - t_catalog))
            svc_from_request_s.append(t1 - t0)
            # the next scaling starts from a settled state
            wait_for(lambda c=count: len(agent.running("web")) == c or None, 60, "web settled")
        catalog.close()
        # idle: the watches held (blocking queries), nothing changing
        time.sleep(2.0)
        assert agent.proc is not None
        proc = psutil.Process(agent.proc.pid)
        c0, w0 = cpu_seconds(proc), time.perf_counter()
        time.sleep(args.idle_seconds)
        idle_share = (cpu_seconds(proc) - c0) / (time.perf_counter() - w0)
    finally:
        agent.stop_jobs()
        agent.stop()
    print(
        json.dumps(
            {
                "benchmark": "template_rerender",
                "wait_min": args.wait_min,
                "variable_write_to_disk": {"changes": len(var_s), **figures(var_s)},
                "service_catalog_change_to_disk": {"changes": len(svc_s), **figures(svc_s)},
                "service_scale_request_to_disk": {
                    "changes": len(svc_from_request_s),
                    **figures(svc_from_request_s),
                },
                "idle_agent_cpu_percent": round(idle_share * 100, 2),
                "idle_seconds": args.idle_seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
