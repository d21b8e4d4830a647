"""Host volumes through a real dev agent: a client host_volume, a group volume and a
task volume_mount; files written by real raw_exec and exec tasks land on the host, and
a job asking for a volume no node has stays pending with Nomad's reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Agent, GitRepo, wait_for

JOB = """job "%(id)s" {
  type = "batch"
  group "g" {
    restart { attempts = 0 }
    reschedule { attempts = 0 }
    volume "data" {
      type   = "host"
      source = "%(source)s"
    }
    task "t" {
      driver = "%(driver)s"
      volume_mount {
        volume      = "data"
        destination = "/data"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", %(script)s]
      }
    }
  }
}
"""
RAW = JOB % {"id": "raw", "source": "shared", "driver": "raw_exec",
             "script": '"echo raw-$NOMAD_ALLOC_ID > $NOMAD_HOST_VOLUME_data/raw.txt"'}  # fmt: skip
EXEC = JOB % {"id": "iso", "source": "shared", "driver": "exec",
              "script": '"echo exec-$NOMAD_ALLOC_ID > /data/exec.txt"'}  # fmt: skip
MISSING = JOB % {"id": "lost", "source": "nowhere", "driver": "raw_exec", "script": '"true"'}


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[tuple[Agent, GitRepo, Path]]:
    shared = tmp_path / "shared"
    shared.mkdir()
    config = tmp_path / "agent.hcl"
    config.write_text(f'client {{\n  host_volume "shared" {{\n    path = "{shared}"\n  }}\n}}\n')
    repo = GitRepo(tmp_path / "repo")
    repo.commit("raw", **{"jobs__raw.nomad.hcl": RAW, "jobs__lost.nomad.hcl": MISSING})
    a = Agent(tmp_path / "data", "--dev", "--config", str(config), "--repo", str(repo.path),
              "--path", "jobs")  # fmt: skip
    a.start()
    try:
        yield a, repo, shared
    finally:
        a.stop_jobs()
        a.stop()


def complete(agent: Agent, job_id: str) -> dict[str, Any] | None:
    done = [a for a in agent.allocs(job_id) if a["ClientStatus"] == "complete"]
    return done[0] if done else None


def test_task_writes_reach_the_host_volume(agent: tuple[Agent, GitRepo, Path]) -> None:
    a, repo, shared = agent
    node = a.get("/v1/nodes")[0]
    detail = a.get(f"/v1/node/{node['ID']}")
    assert detail["HostVolumes"] == {
        "shared": {"Name": "shared", "Path": str(shared), "ReadOnly": False}
    }
    alloc = wait_for(lambda: complete(a, "raw"), 60, "the raw_exec job to complete")
    assert (shared / "raw.txt").read_text().strip() == f"raw-{alloc['ID']}"
    if not detail["Drivers"].get("exec", {}).get("Healthy"):
        pytest.skip("the exec driver is not healthy here (needs root and bwrap)")
    repo.commit("exec", **{"jobs__iso.nomad.hcl": EXEC})
    alloc = wait_for(lambda: complete(a, "iso"), 60, "the exec job to complete")
    assert (shared / "exec.txt").read_text().strip() == f"exec-{alloc['ID']}"


def test_a_volume_no_node_has_leaves_the_job_pending_with_the_reason(
    agent: tuple[Agent, GitRepo, Path],
) -> None:
    a, _repo, _shared = agent

    def blocked() -> dict[str, Any] | None:
        # The job may be evaluated before the dev agent's own node has registered (no
        # node filtered yet); the node's arrival re-evaluates the blocked job.
        evals = [e for e in a.get("/v1/evaluations") if e["JobID"] == "lost"]
        failed = [
            e["FailedTGAllocs"]["g"]
            for e in evals
            if e.get("FailedTGAllocs") and e["FailedTGAllocs"]["g"]["NodesEvaluated"]
        ]
        return failed[0] if failed else None

    metric = wait_for(blocked, 60, "the lost job's evaluation to record its failed placement")
    assert metric["ConstraintFiltered"] == {"missing compatible host volumes": 1}
    assert a.allocs("lost") == []
