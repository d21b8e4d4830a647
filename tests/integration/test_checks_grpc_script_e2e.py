"""grpc and script checks through a real dev agent: a Python gRPC server (grpcio's
health servicer, run by raw_exec) whose grpc check passes, then fails when the server
sets NOT_SERVING; a script check run by the exec driver inside its task's sandbox that
passes, warns (exit 1) and turns critical (exit 2), with the script's output recorded."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(180)

# Serves grpc.health.v1 on $NOMAD_PORT_grpc; "api.v1" turns NOT_SERVING once the task's
# local/down file exists.
GRPC_SERVER = """\
import os, time
from concurrent import futures
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
servicer = health.HealthServicer()
health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
server.add_insecure_port("127.0.0.1:" + os.environ["NOMAD_PORT_grpc"])
servicer.set("api.v1", health_pb2.HealthCheckResponse.SERVING)
server.start()
down = os.path.join(os.environ["NOMAD_TASK_DIR"], "down")
while True:
    if os.path.exists(down):
        servicer.set("api.v1", health_pb2.HealthCheckResponse.NOT_SERVING)
    time.sleep(0.1)
"""

RPC = """
job "rpc" {
  group "rpc" {
    network {
      port "grpc" {}
    }
    service {
      name = "rpc"
      port = "grpc"
      check {
        name         = "health"
        type         = "grpc"
        grpc_service = "api.v1"
        interval     = "500ms"
        timeout      = "2s"
      }
    }
    task "server" {
      driver = "raw_exec"
      config {
        command = "%(python)s"
        args    = ["%(script)s"]
      }
      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
"""

# The check's script runs in the exec task's chroot: /alloc exists there only, and its
# exit code follows the files the test drops into the task's local/ dir.
WORKER = """
job "worker" {
  group "worker" {
    task "work" {
      driver = "exec"
      config {
        command = "/bin/sleep"
        args    = ["600"]
      }
      service {
        name = "worker"
        check {
          name     = "script"
          type     = "script"
          command  = "/bin/sh"
          args     = ["-c", "test -d /alloc || exit 3; if [ -e $NOMAD_TASK_DIR/bad ]; then echo broken; exit 2; fi; if [ -e $NOMAD_TASK_DIR/warn ]; then echo degraded; exit 1; fi; echo fine"]
          interval = "500ms"
          timeout  = "5s"
        }
      }
      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
"""


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    script = tmp_path / "grpc_health_server.py"
    script.write_text(GRPC_SERVER)
    repo = GitRepo(tmp_path / "repo")
    rpc = RPC % {"python": sys.executable, "script": script}
    repo.commit("jobs", **{"jobs__rpc.nomad.hcl": rpc, "jobs__worker.nomad.hcl": WORKER})
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def _check(agent: Agent, alloc_id: str) -> dict[str, Any]:
    (check,) = agent.get(f"/v1/allocation/{alloc_id}/checks").values()
    return dict(check)


def _local(tmp_path: Path, alloc_id: str, task: str) -> Path:
    return next((tmp_path / "data").glob(f"**/{alloc_id}/{task}/local"))


def test_grpc_check_passes_then_fails_on_not_serving(agent: Agent, tmp_path: Path) -> None:
    (alloc,) = wait_for(lambda: agent.running("rpc"), 60, "rpc running")
    alloc = agent.get(f"/v1/allocation/{alloc['ID']}")
    (port,) = [p["Value"] for p in alloc["AllocatedPorts"] if p["Label"] == "grpc"]
    regs = wait_for(lambda: agent.get("/v1/service/rpc"), 60, "the grpc check passing")
    assert [(r["Port"], r["AllocID"]) for r in regs] == [(port, alloc["ID"])]
    check = _check(agent, alloc["ID"])
    assert (check["Check"], check["Status"]) == ("health", "success")

    (_local(tmp_path, alloc["ID"], "server") / "down").write_text("")
    wait_for(lambda: _check(agent, alloc["ID"])["Status"] == "failure", 30, "grpc failing")
    check = _check(agent, alloc["ID"])
    assert "NOT_SERVING" in check["Output"], check
    assert f"127.0.0.1:{port}" in check["Output"], check
    assert agent.get("/v1/service/rpc") == []
    assert len(agent.get("/v1/service/rpc", all="true")) == 1


def test_script_check_runs_in_the_exec_sandbox_and_flips(agent: Agent, tmp_path: Path) -> None:
    (alloc,) = wait_for(lambda: agent.running("worker"), 60, "worker running")
    alloc_id = alloc["ID"]
    wait_for(lambda: agent.get("/v1/service/worker"), 60, "the script check passing")
    check = _check(agent, alloc_id)
    assert (check["Check"], check["Status"], check["StatusCode"]) == ("script", "success", 0)
    assert check["Output"].strip() == "fine"

    local = _local(tmp_path, alloc_id, "work")
    (local / "warn").write_text("")
    wait_for(lambda: _check(agent, alloc_id)["Status"] == "warning", 30, "the check warning")
    check = _check(agent, alloc_id)
    assert (check["StatusCode"], check["Output"].strip()) == (1, "degraded")
    assert agent.get("/v1/service/worker") == []  # only passing instances are answered

    (local / "bad").write_text("")
    wait_for(lambda: _check(agent, alloc_id)["Status"] == "failure", 30, "the check critical")
    check = _check(agent, alloc_id)
    assert (check["StatusCode"], check["Output"].strip()) == (2, "broken")

    (local / "bad").unlink()
    (local / "warn").unlink()
    wait_for(lambda: agent.get("/v1/service/worker"), 30, "passing again")
