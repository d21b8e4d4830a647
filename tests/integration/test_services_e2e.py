"""Native service discovery and client checks through a real dev agent: a Python
http.server task registered with its scheduler-assigned port, its http check passing,
failing when the server stops answering (SIGSTOP), check_restart restarting it, and
deregistration when the job stops."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(180)

WEB = """
job "web" {
  group "web" {
    network {
      port "http" {}
    }
    restart {
      attempts = 5
      interval = "5m"
      delay    = "1s"
      mode     = "fail"
    }
    service {
      name = "web"
      port = "http"
      tags = ["py"]
      check {
        name     = "alive"
        type     = "http"
        path     = "/"
        interval = "500ms"
        timeout  = "400ms"
        check_restart {
          limit = 3
          grace = "1s"
        }
      }
    }
    task "server" {
      driver       = "raw_exec"
      kill_timeout = "1s"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $$ > $NOMAD_TASK_DIR/pid; exec python3 -m http.server $NOMAD_PORT_http --bind 127.0.0.1"]
      }
      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo(tmp_path / "repo")
    r.commit("web", **{"jobs__web.nomad.hcl": WEB})
    return r


@pytest.fixture
def agent(tmp_path: Path, repo: GitRepo) -> Iterator[Agent]:
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def _checks(agent: Agent, alloc_id: str) -> list[dict[str, Any]]:
    return list(agent.get(f"/v1/allocation/{alloc_id}/checks").values())


def test_service_registered_checked_restarted_and_deregistered(
    agent: Agent, repo: GitRepo, tmp_path: Path
) -> None:
    (alloc,) = wait_for(lambda: agent.running("web"), 60, "web running")
    alloc = agent.get(f"/v1/allocation/{alloc['ID']}")
    (port,) = [p for p in alloc["AllocatedPorts"] if p["Label"] == "http"]

    # registered with the scheduler-assigned port, listed once its check passes
    regs = wait_for(lambda: agent.get("/v1/service/web"), 30, "a healthy web instance")
    assert [(r["Address"], r["Port"], r["AllocID"], r["Tags"]) for r in regs] == [
        ("127.0.0.1", port["Value"], alloc["ID"], ["py"])
    ]
    assert agent.get("/v1/services") == [
        {"Namespace": "default", "Services": [{"ServiceName": "web", "Tags": ["py"]}]}
    ]
    assert [r["ID"] for r in agent.get("/v1/job/web/services")] == [regs[0]["ID"]]
    (check,) = _checks(agent, alloc["ID"])
    assert (check["Check"], check["Status"], check["StatusCode"]) == ("alive", "success", 200)

    # the server stops answering: the check fails and the instance leaves the answers
    pid_file = next((tmp_path / "data").glob(f"**/{alloc['ID']}/server/local/pid"))
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGSTOP)
    wait_for(lambda: _checks(agent, alloc["ID"])[0]["Status"] == "failure", 15, "check failing")
    assert agent.get("/v1/service/web") == []
    assert len(agent.get("/v1/service/web", all="true")) == 1

    # check_restart restarts the task: a new process, healthy again
    def restarted() -> bool:
        state = agent.get(f"/v1/allocation/{alloc['ID']}")["TaskStates"]["server"]
        kinds = [e["Type"] for e in state["Events"]]
        return state["Restarts"] >= 1 and "Restart Signaled" in kinds

    wait_for(restarted, 30, "the task restarted by check_restart")
    wait_for(lambda: int(pid_file.read_text()) != pid, 15, "a new server process")
    wait_for(lambda: agent.get("/v1/service/web"), 30, "healthy again after the restart")

    # stopping the job deregisters the service
    agent.http.delete("/v1/job/web", params={"force": "true"}).raise_for_status()
    wait_for(lambda: agent.get("/v1/services") == [], 30, "web deregistered")
    assert agent.get("/v1/service/web", all="true") == []
