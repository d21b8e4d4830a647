"""Periodic and parameterized jobs through a real dev agent on a real Git repository,
with real raw_exec tasks: a periodic job runs nothing at registration, ``periodic/force``
runs it, a seconds-level cron launches again on time, a dispatch's payload and meta
reach the task, and bad input gets a clear answer."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(180)
S = 1_000_000_000

YEARLY = """
job "yearly" {
  type = "batch"
  periodic {
    crons            = ["@yearly"]
    prohibit_overlap = true
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo launched-as $NOMAD_JOB_ID parent=$NOMAD_JOB_PARENT_ID"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"""

TICK = """
job "tick" {
  type = "batch"
  periodic {
    cron = "*/2 * * * * * *"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"""

RENDER = """
job "render" {
  type = "batch"
  parameterized {
    payload       = "required"
    meta_required = ["input"]
    meta_optional = ["color"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      dispatch_payload {
        file = "in/payload.txt"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "cat local/in/payload.txt; echo; echo input=$NOMAD_META_input color=$NOMAD_META_color"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo(tmp_path / "repo")
    r.commit(
        "a periodic and a parameterized job",
        **{"jobs__yearly.nomad.hcl": YEARLY, "jobs__render.nomad.hcl": RENDER},
    )
    return r


@pytest.fixture
def agent(tmp_path: Path, repo: GitRepo) -> Iterator[Agent]:
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        wait_for(lambda: {j["ID"] for j in a.get("/v1/jobs")} >= {"yearly", "render"}, 20, "sync")
        yield a
    finally:
        for parent in ("tick", "yearly", "render"):  # no new children while stopping
            a.http.delete(f"/v1/job/{parent}", params={"purge": "true", "force": "true"})
        a.stop_jobs()
        a.stop()


def children(agent: Agent, parent: str) -> list[dict[str, Any]]:
    return [j for j in agent.get("/v1/jobs", prefix=f"{parent}/") if j["ParentID"] == parent]


def stdout_of(agent: Agent, job_id: str) -> str:
    allocs = wait_for(
        lambda: [a for a in agent.allocs(job_id) if a["ClientStatus"] == "complete"],
        30,
        f"{job_id} to complete",
    )
    resp = agent.http.get(
        f"/v1/client/fs/logs/{allocs[0]['ID']}",
        params={"task": "t", "type": "stdout", "plain": "true"},
    )
    return resp.text


def cli(agent: Agent, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitorch", "--address", agent.url, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_periodic_job_runs_only_when_launched(agent: Agent) -> None:
    time.sleep(1.0)  # give a wrong launch at registration the time to show
    assert agent.allocs("yearly") == []
    assert children(agent, "yearly") == []
    assert agent.get("/v1/job/yearly/evaluations") == []

    status = cli(agent, "job", "status", "yearly")
    assert status.returncode == 0, status.stderr
    assert re.search(r"Periodic\s+= true", status.stdout), status.stdout
    assert "Next Periodic Launch" in status.stdout and "from now" in status.stdout
    assert "No instances of periodic job found" in status.stdout

    forced = agent.post("/v1/job/yearly/periodic/force")
    assert forced["EvalID"]
    kids = wait_for(lambda: children(agent, "yearly"), 10, "the forced child")
    child = kids[0]["ID"]
    assert child.startswith("yearly/periodic-")
    out = stdout_of(agent, child)
    assert f"launched-as {child} parent=yearly" in out
    status = cli(agent, "job", "status", "yearly")
    assert child in status.stdout and "Previously Launched Jobs" in status.stdout
    child_status = cli(agent, "job", "status", child)
    assert child_status.returncode == 0, child_status.stderr
    assert re.search(r"Periodic\s+= false", child_status.stdout), child_status.stdout


def test_seconds_level_cron_launches_again_on_time(agent: Agent, repo: GitRepo) -> None:
    repo.commit("tick every two seconds", **{"jobs__tick.nomad.hcl": TICK})
    agent.post("/v1/gitops/sync", {"DryRun": False})
    kids = wait_for(lambda: (k := children(agent, "tick")) and len(k) >= 3 and k, 20, "3 ticks")
    launches = sorted(int(k["ID"].rpartition("-")[2]) for k in kids)
    assert all(t % 2 == 0 for t in launches), launches
    assert all(b - a == 2 for a, b in zip(launches, launches[1:], strict=False)), launches
    for kid in kids:
        job = agent.get(f"/v1/job/{kid['ID']}")
        due = int(kid["ID"].rpartition("-")[2]) * S
        assert 0 <= job["SubmitTime"] - due < S, (kid["ID"], job["SubmitTime"] - due)
    for kid in kids[:2]:
        wait_for(
            lambda k=kid: [a for a in agent.allocs(k["ID"]) if a["ClientStatus"] == "complete"],
            30,
            f"{kid['ID']} complete",
        )
    summary = agent.get("/v1/job/tick/summary")["Children"]
    assert summary["Pending"] + summary["Running"] + summary["Dead"] >= 3


def test_dispatch_payload_and_meta_reach_the_task(agent: Agent) -> None:
    payload = base64.b64encode(b"hello from the payload").decode()
    resp = agent.post(
        "/v1/job/render/dispatch",
        {"Payload": payload, "Meta": {"input": "photo.png", "color": "red"}},
    )
    child = resp["DispatchedJobID"]
    assert child.startswith("render/dispatch-") and resp["EvalID"]
    out = stdout_of(agent, child)
    assert "hello from the payload" in out
    assert "input=photo.png color=red" in out

    # the CLI: a payload from a file, meta, and an idempotency token answered once
    src = agent.data_dir.parent / "payload.txt"
    src.write_text("from the cli")
    args = ["job", "dispatch", "-meta", "input=cli.png", "-idempotency-token", "tok-1"]
    first = cli(agent, *args, "-detach", "render", str(src))
    assert first.returncode == 0, first.stderr
    again = cli(agent, *args, "-detach", "render", str(src))
    assert again.returncode == 0, again.stderr
    ids = [line.split("=")[1].strip() for line in first.stdout.splitlines() if "Dispatched" in line]
    assert ids and ids[0] in again.stdout
    assert "from the cli" in stdout_of(agent, ids[0])
    status = cli(agent, "job", "status", "render")
    assert "Parameterized Job" in status.stdout and "Dispatched Jobs" in status.stdout


def test_bad_input_gets_clear_errors(agent: Agent, repo: GitRepo) -> None:
    def dispatch(body: dict[str, Any]) -> tuple[int, str]:
        r = agent.http.post("/v1/job/render/dispatch", json=body)
        return r.status_code, r.text

    assert dispatch({"Payload": "eA=="}) == (
        400,
        "Dispatch did not provide required meta keys: ['input']",
    )
    code, text = dispatch({"Meta": {"input": "a"}})
    assert code == 400 and "Payload is not provided but required" in text
    code, text = dispatch(
        {"Payload": base64.b64encode(b"x" * 20000).decode(), "Meta": {"input": "a"}}
    )
    assert code == 400 and "Payload exceeds maximum size; 20000 > 16384" in text
    code, text = dispatch({"Payload": "eA==", "Meta": {"input": "a", "size": "1"}})
    assert code == 400 and "unpermitted metadata keys: ['size']" in text
    assert children(agent, "render") == []

    broken = YEARLY.replace('crons            = ["@yearly"]', 'cron = "61 * * * *"')
    sha = repo.commit("a bad cron", **{"jobs__yearly.nomad.hcl": broken})
    status = wait_for(
        lambda: (s := agent.post("/v1/gitops/sync", {"DryRun": False}))["Commit"] == sha and s,
        20,
        "sync of the bad cron",
    )
    errors = [e for e in status["Errors"] if e["File"] == "jobs/yearly.nomad.hcl"]
    assert errors and errors[0]["Line"] == 5, status["Errors"]
    assert "minute value 61" in errors[0]["Message"]
    # the last good version stays, and stays periodic
    assert agent.get("/v1/job/yearly")["Periodic"]["Specs"] == ["@yearly"]
    assert cli(agent, "job", "dispatch", "yearly").returncode == 1
