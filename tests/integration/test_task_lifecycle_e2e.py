"""Task lifecycle with real raw_exec processes: a jobspec parsed from HCL, run by a real
client agent against an in-memory server, observed through files the tasks write."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitorch.agent.client import Client, ClientOptions
from gitorch.agent.conn import InMemoryConn
from gitorch.core.commands import ApplyPlan, RegisterJob
from gitorch.core.model import SECOND, Job, Placement, Plan
from gitorch.jobspec import parse_text
from gitorch.plugins.builtin.raw_exec import RawExecDriver

# Each task appends "<name> start|end <ns>" to the alloc's shared data dir.
LOG = 'echo "$NOMAD_TASK_NAME $1 $(date +%s%N)" >> "$NOMAD_ALLOC_DIR/data/order"'
JOB = """job "life" {
  type = "batch"
  group "g" {
    restart { attempts = 0 }
    task "init" {
      driver = "raw_exec"
      lifecycle { hook = "prestart" }
      config {
        command = "/bin/sh"
        args = ["-c", "log() { %(log)s; }; log start; sleep 0.3; echo ready > $NOMAD_ALLOC_DIR/data/pre.txt; log end"]
      }
    }
    task "proxy" {
      driver = "raw_exec"
      kill_timeout = "2s"
      lifecycle {
        hook = "prestart"
        sidecar = true
      }
      config {
        command = "/bin/sh"
        args = ["-c", "log() { %(log)s; }; log start; exec sleep 60"]
      }
    }
    task "main" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args = ["-c", "log() { %(log)s; }; log start; cat $NOMAD_ALLOC_DIR/data/pre.txt || exit 3; sleep 0.2; log end"]
      }
    }
    task "cleanup" {
      driver = "raw_exec"
      lifecycle { hook = "poststop" }
      config {
        command = "/bin/sh"
        args = ["-c", "log() { %(log)s; }; log start"]
      }
    }
  }
}
""" % {"log": LOG.replace('"', '\\"')}  # noqa: UP031 (HCL braces make format() awkward)


def wait_for(what: str, check: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def conn() -> InMemoryConn:
    return InMemoryConn(heartbeat_ttl=2 * SECOND)


@pytest.fixture
def client(conn: InMemoryConn, tmp_path: Path) -> Iterator[Client]:
    opts = ClientOptions(data_dir=tmp_path, name="life-node", alloc_wait_s=0.5)
    c = Client(conn, opts, drivers={"raw_exec": RawExecDriver({"enabled": True})})
    c.start()
    wait_for("registration", lambda: c.node_id in conn.store.nodes)
    yield c
    c.stop(drain=True, timeout=10)


def place(conn: InMemoryConn, node_id: str, job: Job) -> str:
    conn.apply(RegisterJob(now=time.time_ns(), job=job))
    version = conn.store.jobs[("default", job.id)].version
    alloc_id = str(uuid.uuid4())
    placement = Placement(id=alloc_id, task_group="g", index=0, node_id=node_id)
    plan = Plan(eval_id="e1", job_id=job.id, job_version=version, placements=[placement])
    conn.apply(ApplyPlan(now=time.time_ns(), plan=plan))
    return alloc_id


def test_prestart_before_main_sidecar_stopped_poststop_after(
    client: Client, conn: InMemoryConn
) -> None:
    job = parse_text(JOB, file="life.nomad.hcl")
    alloc_id = place(conn, client.node_id, job)

    def status() -> str:
        return conn.store.allocs[alloc_id].client_status

    wait_for("the batch alloc to finish", lambda: status() in ("complete", "failed"))
    alloc = conn.store.allocs[alloc_id]
    assert status() == "complete", {n: t.events for n, t in alloc.task_states.items()}
    data = client.options.data_dir / "alloc" / alloc_id / "alloc" / "data"
    at: dict[str, int] = {}
    for line in (data / "order").read_text().splitlines():
        name, what, ns = line.split()
        at[f"{name} {what}"] = int(ns)
    assert at["init end"] <= at["main start"]  # prestart ran to completion first
    assert at["proxy start"] <= at["main start"]  # the sidecar started beside it
    assert at["main end"] <= at["cleanup start"]  # poststop ran after main
    main_log = client.log_path(alloc_id, "main", "stdout")
    assert main_log.read_text() == "ready\n"
    states = alloc.task_states
    assert states["proxy"].state == "dead" and not states["proxy"].failed
    assert "Main Tasks Dead" in [e.type for e in states["proxy"].events]
    assert states["cleanup"].state == "dead" and not states["cleanup"].failed
