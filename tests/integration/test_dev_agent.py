"""A real dev agent process on a real git repository: commit -> running, change,
delete, a broken file, and a restart that keeps state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(180)


def service_job(job_id: str, message: str, count: int = 1) -> str:
    return f'''
job "{job_id}" {{
  group "g" {{
    count = {count}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo {message} $NOMAD_ALLOC_ID; exec sleep 300"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
      kill_timeout = "2s"
    }}
  }}
}}
'''


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    r = GitRepo(tmp_path / "repo")
    r.commit(
        "two jobs",
        **{
            "jobs__alpha.nomad.hcl": service_job("alpha", "hello-alpha"),
            "jobs__beta.nomad.hcl": service_job("beta", "hello-beta"),
        },
    )
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


def test_commit_becomes_running_and_logs(agent: Agent, repo: GitRepo) -> None:
    for job in ("alpha", "beta"):
        allocs = wait_for(lambda j=job: agent.running(j), 20, f"{job} running")
        assert allocs[0]["Name"] == f"{job}.g[0]"
    alloc_id = agent.running("alpha")[0]["ID"]
    text = wait_for(
        lambda: (
            agent.http.get(
                f"/v1/client/fs/logs/{alloc_id}",
                params={"task": "t", "type": "stdout", "plain": "true"},
            ).text
        ),
        10,
        "alpha's stdout",
    )
    assert f"hello-alpha {alloc_id}" in text
    status = agent.get("/v1/gitops/status")
    assert status["Commit"] == repo.git("rev-parse", "HEAD")
    assert {j["ID"]: j["Status"] for j in status["Jobs"]} == {"alpha": "synced", "beta": "synced"}


def test_change_delete_and_broken_file(agent: Agent, repo: GitRepo) -> None:
    first = wait_for(lambda: agent.running("alpha"), 20, "alpha running")[0]
    wait_for(lambda: agent.running("beta"), 20, "beta running")

    # A change gives the job a new version; the new one runs, the old one stops.
    repo.commit("change alpha", **{"jobs__alpha.nomad.hcl": service_job("alpha", "v2")})
    new = wait_for(lambda: agent.running("alpha", version=1), 20, "alpha v1 running")[0]
    assert new["ID"] != first["ID"]
    old = wait_for(
        lambda: [
            a
            for a in agent.allocs("alpha")
            if a["ID"] == first["ID"] and a["ClientStatus"] == "complete"
        ],
        20,
        "old alpha alloc stopped",
    )[0]
    assert old["DesiredStatus"] == "stop"

    # A broken file blocks only itself: beta keeps its last good version, alpha is untouched.
    beta_alloc = agent.running("beta")[0]["ID"]
    broken = service_job("beta", "broken").replace(
        'driver = "raw_exec"', 'driver = "raw_exec"\n      comand = 1'
    )
    sha = repo.commit("break beta", **{"jobs__beta.nomad.hcl": broken})
    status = wait_for(
        lambda: (s := agent.get("/v1/gitops/status"))["Commit"] == sha and s,
        20,
        "sync of the broken commit",
    )
    errors = status["Errors"]
    assert len(errors) == 1 and errors[0]["File"] == "jobs/beta.nomad.hcl"
    assert errors[0]["Line"] == 7, errors  # the line after `driver`
    assert "comand" in errors[0]["Message"]
    assert {j["ID"]: j["Status"] for j in status["Jobs"]}["beta"] == "error"
    assert agent.running("beta")[0]["ID"] == beta_alloc
    assert agent.get("/v1/job/beta")["Version"] == 0

    # A deleted file stops its job (prune); jobs registered by hand are never pruned.
    repo.commit("delete alpha", **{"jobs__alpha.nomad.hcl": None})
    wait_for(lambda: agent.get("/v1/job/alpha")["Stop"], 20, "alpha stopped")
    wait_for(lambda: not agent.running("alpha"), 20, "alpha's allocs stopped")
    assert agent.running("beta")[0]["ID"] == beta_alloc


def test_restart_keeps_state(tmp_path: Path, repo: GitRepo) -> None:
    a = Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        alloc = wait_for(lambda: a.running("alpha"), 20, "alpha running")[0]
        commit = a.get("/v1/gitops/status")["Commit"]
        a.stop()
        a.start()
        assert a.get("/v1/gitops/status")["Commit"] == commit
        assert {j["ID"] for j in a.get("/v1/jobs")} >= {"alpha", "beta"}
        # The same allocation keeps running: re-attached, not replaced.
        again = wait_for(lambda: a.running("alpha"), 20, "alpha running after restart")
        assert [x["ID"] for x in again] == [alloc["ID"]]
    finally:
        a.stop_jobs()
        a.stop()


def test_unreachable_repo_is_reported_and_jobs_keep_running(agent: Agent, repo: GitRepo) -> None:
    alloc = wait_for(lambda: agent.running("alpha"), 20, "alpha running")[0]
    moved = repo.path.with_name("repo-away")
    repo.path.rename(moved)
    try:
        status = wait_for(
            lambda: (s := agent.post("/v1/gitops/sync", {"DryRun": False}))["FetchError"] and s,
            10,
            "a fetch error",
        )
        assert str(repo.path) in status["FetchError"]
        assert agent.get("/v1/gitops/status")["FetchError"] == status["FetchError"]
        assert agent.running("alpha")[0]["ID"] == alloc["ID"]
    finally:
        moved.rename(repo.path)
    wait_for(
        lambda: not agent.post("/v1/gitops/sync", {"DryRun": False})["FetchError"],
        10,
        "the fetch to recover",
    )
    assert agent.get("/v1/gitops/status")["FetchError"] == ""


def test_cli_sync_diff_and_failed_file(agent: Agent, repo: GitRepo) -> None:
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gitorch", "--address", agent.url, *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    wait_for(lambda: agent.running("alpha"), 20, "alpha running")
    repo.commit(
        "scale alpha; add gamma without syncing yet",
        **{"jobs__alpha.nomad.hcl": service_job("alpha", "hi", count=2)},
    )
    diff = cli("diff")
    assert diff.returncode == 0, diff.stderr
    assert "alpha" in diff.stdout
    broken = repo.commit("broken gamma", **{"jobs__gamma.nomad.hcl": 'job "gamma" {\n  group {\n'})
    result = cli("sync")
    assert result.returncode != 0
    assert "jobs/gamma.nomad.hcl:" in result.stderr
    assert agent.get("/v1/gitops/status")["Commit"] == broken
    wait_for(lambda: len(agent.running("alpha", version=1)) == 2, 20, "alpha scaled to 2")


EXEC_JOB = """
job "isolated" {
  type = "batch"
  group "g" {
    task "probe" {
      driver = "exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo pid=$$; echo hi > local/ok && echo wrote-local; (echo x > /etc/gitorch-escape) 2>/dev/null && echo wrote-etc || echo etc-denied; (echo x > /usr/gitorch-escape) 2>/dev/null && echo wrote-usr || echo usr-denied; ls /proc | grep -c '^[0-9]'"]
      }
      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
"""


def test_exec_task_is_isolated(agent: Agent, repo: GitRepo) -> None:
    repo.commit("exec probe", **{"jobs__isolated.nomad.hcl": EXEC_JOB})
    alloc = wait_for(
        lambda: [a for a in agent.allocs("isolated") if a["ClientStatus"] == "complete"],
        30,
        "the exec probe to finish",
    )[0]
    out = agent.http.get(
        f"/v1/client/fs/logs/{alloc['ID']}",
        params={"task": "probe", "type": "stdout", "plain": "true"},
    ).text
    lines = out.split()
    assert lines[0] in ("pid=1", "pid=2"), out  # its own PID namespace
    assert "wrote-local" in lines and "etc-denied" in lines and "usr-denied" in lines, out
    assert not Path("/etc/gitorch-escape").exists() and not Path("/usr/gitorch-escape").exists()
    assert int(lines[-1]) < 10, out  # /proc shows only its own few processes, not the host's
