"""GitOps day two through a real dev agent and a real git repository: a failing commit
auto-reverts and is held (not re-applied) until a newer commit changes the file; suspend
and resume; sync --revision; history; job stop refused for Git-managed jobs;
depends_on ordering; the empty-folder prune; a batch job back to earlier content."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Agent, GitRepo, wait_for

pytestmark = pytest.mark.timeout(240)

UPDATE = """
  update {
    max_parallel     = 1
    auto_revert      = true
    healthy_deadline = "5s"
    min_healthy_time = "1s"
  }
"""


def service(job_id: str, command: str, args: str, *, meta: str = "", update: str = UPDATE) -> str:
    return f'''
job "{job_id}" {{
{meta}
{update}
  group "g" {{
    count = 2
    restart {{
      attempts = 0
      mode     = "fail"
    }}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "{command}"
        args    = {args}
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
      kill_timeout = "1s"
    }}
  }}
}}
'''


def good(job_id: str, tag: str, meta: str = "") -> str:
    return service(job_id, "/bin/sh", f'["-c", "echo {tag}; exec sleep 300"]', meta=meta)


def bad(job_id: str) -> str:
    return service(job_id, "/bin/false", "[]")


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")


def start_agent(tmp_path: Path, repo: GitRepo) -> Agent:
    return Agent(tmp_path / "data", "--dev", "--repo", str(repo.path), "--path", "jobs").start()


@pytest.fixture
def agent(tmp_path: Path, repo: GitRepo) -> Iterator[Agent]:
    repo.commit("stable web", **{"jobs__web.nomad.hcl": good("web", "v1")})
    a = start_agent(tmp_path, repo)
    try:
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def job_status(agent: Agent, job_id: str) -> dict[str, Any]:
    jobs = {j["ID"]: j for j in agent.get("/v1/gitops/status")["Jobs"]}
    return dict(jobs[job_id])


def sync(agent: Agent, **body: Any) -> dict[str, Any]:
    return dict(agent.post("/v1/gitops/sync", {"DryRun": False, **body}))


def change(report: dict[str, Any], job_id: str) -> dict[str, Any]:
    return dict(next(c for c in report["Changes"] if c["JobID"] == job_id))


def synced_at(agent: Agent, commit: str, job_id: str, action: str = "update") -> bool:
    """A forced sync did `action` to the job at this commit, or the loop did just before
    it: a new commit wakes the loop, so the sync that follows may find nothing to do."""
    report = sync(agent)
    assert report["FetchError"] == "" and report["Commit"] == commit
    if any(c["JobID"] == job_id and c["Action"] == action for c in report["Changes"]):
        return True
    entry = next(h for h in agent.get("/v1/gitops/history") if h["Commit"] == commit)
    return any(c["JobID"] == job_id and c["Action"] == action for c in entry["Changes"])


def cli(agent: Agent, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitorch", "-address", agent.url, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def healthy_at(agent: Agent, job_id: str, commit: str) -> dict[str, Any] | None:
    s = job_status(agent, job_id)
    return s if s["Health"] == "healthy" and s["Commit"] == commit else None


def test_failed_commit_reverts_is_held_then_rolls_forward(agent: Agent, repo: GitRepo) -> None:
    first = repo.git("rev-parse", "HEAD")
    wait_for(lambda: healthy_at(agent, "web", first), 60, "web healthy at the first commit")
    wait_for(lambda: agent.get("/v1/job/web")["Stable"], 30, "version 0 marked stable")

    broken = repo.commit("web runs /bin/false", **{"jobs__web.nomad.hcl": bad("web")})
    degraded = wait_for(
        lambda: (s := job_status(agent, "web"))["Health"] == "degraded" and s["Detail"] and s,
        90,
        "web degraded after the failed rollout",
    )
    assert degraded["Detail"] == (
        f"degraded at {broken[:12]} (reverted to version 0 from commit {first[:12]})"
    )
    assert degraded["Status"] == "held" and degraded["Commit"] == first
    assert degraded["DeploymentStatus"] == "failed"
    reverted = agent.get("/v1/job/web")
    assert reverted["Version"] >= 2 and reverted["Source"]["Commit"] == first
    wait_for(lambda: len(agent.running("web", reverted["Version"])) == 2, 60, "old spec serves")

    # The next poll does not re-apply the failed commit.
    report = sync(agent)
    assert report["Commit"] == broken
    assert change(report, "web")["Action"] == "held"
    assert agent.get("/v1/job/web")["Version"] == reverted["Version"]
    assert job_status(agent, "web")["Health"] == "degraded"
    dry = cli(agent, "sync", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"Commit {broken[:12]}: 0 job(s) would change, 1 held" in dry.stdout

    # A newer commit that changes the file rolls forward, followed by sync --wait.
    fixed = repo.commit("web fixed", **{"jobs__web.nomad.hcl": good("web", "v3")})
    waited = cli(agent, "sync", "--wait", "--timeout", "90")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "group g:" in waited.stdout
    ok = healthy_at(agent, "web", fixed)
    assert ok is not None and ok["Status"] == "synced" and ok["Detail"] == ""

    # A failing commit followed by sync --wait exits non-zero.
    repo.commit("web broken again", **{"jobs__web.nomad.hcl": bad("web")})
    failed = cli(agent, "sync", "--wait", "--timeout", "90")
    assert failed.returncode != 0
    assert "rollout failed" in failed.stderr

    history = agent.get("/v1/gitops/history")
    assert [h["Commit"] for h in history[:3]][-1] in (fixed, broken)
    commits = [h["Commit"] for h in history]
    assert fixed in commits and broken in commits and first in commits
    assert len(history) <= 50
    fixed_entry = next(h for h in history if h["Commit"] == fixed)
    assert fixed_entry["Changes"][0]["JobID"] == "web"
    assert fixed_entry["Changes"][0]["Action"] == "update"
    assert fixed_entry["Changes"][0]["DeploymentStatus"] == "successful"
    shown = cli(agent, "gitops", "history")
    assert shown.returncode == 0 and fixed[:12] in shown.stdout


def test_suspend_stop_refusal_and_revision(agent: Agent, repo: GitRepo) -> None:
    first = repo.git("rev-parse", "HEAD")
    wait_for(lambda: healthy_at(agent, "web", first), 60, "web healthy")

    refused = agent.http.delete("/v1/job/web")
    assert refused.status_code == 409
    assert (
        "gitorch gitops suspend web" in refused.text and "delete the file" in refused.text.lower()
    )
    stop = cli(agent, "job", "stop", "-detach", "web")
    assert stop.returncode != 0 and "managed by GitOps" in stop.stderr

    assert cli(agent, "gitops", "suspend", "web").returncode == 0
    second = repo.commit("web v2", **{"jobs__web.nomad.hcl": good("web", "v2")})
    report = sync(agent)
    assert change(report, "web")["Action"] == "held"
    assert agent.get("/v1/job/web")["Version"] == 0
    s = job_status(agent, "web")
    assert s["Suspended"] and s["Status"] == "suspended"
    assert "suspended" in cli(agent, "gitops", "status").stdout

    assert cli(agent, "gitops", "resume", "web").returncode == 0
    report = sync(agent)
    assert change(report, "web")["Action"] == "update"
    wait_for(lambda: healthy_at(agent, "web", second), 60, "web healthy at the second commit")

    # Deploy the first commit again, pinned: polls stay there.
    pinned = sync(agent, Revision=first[:10])
    assert pinned["Commit"] == first and pinned["Revision"] == first[:10]
    assert change(pinned, "web")["Action"] == "update"
    assert agent.get("/v1/gitops/status")["PinnedRevision"] == first[:10]
    # a new commit wakes the loop, which stays at the pinned revision
    before = agent.get("/v1/gitops/status")["SyncedAt"]
    later = repo.commit("an unrelated commit")
    after = wait_for(
        lambda: (st := agent.get("/v1/gitops/status"))["SyncedAt"] > before and st,
        30,
        "the loop to sync after the new commit",
    )
    assert after["Commit"] == first and after["PinnedRevision"] == first[:10]
    # a revision not on the branch is a 400 naming the branch
    other = repo.git("commit-tree", "-m", "detached", repo.git("rev-parse", "HEAD^{tree}"))
    resp = agent.http.post("/v1/gitops/sync", json={"Revision": other})
    assert resp.status_code == 400 and "not on branch 'main'" in resp.text
    bad_cli = cli(agent, "sync", "--revision", "deadbeef")
    assert bad_cli.returncode != 0 and "not on branch" in bad_cli.stderr
    # a plain sync follows the tip again
    tip = sync(agent)
    assert tip["Commit"] == later and tip["Revision"] == ""
    assert change(tip, "web")["Action"] == "update"
    assert agent.get("/v1/gitops/status")["PinnedRevision"] == ""


def test_depends_on_holds_until_dependency_is_healthy(tmp_path: Path, repo: GitRepo) -> None:
    needs_db = '  meta = {\n    "gitorch.depends_on" = "db"\n  }\n'
    slow_db = service(
        "db",
        "/bin/sh",
        '["-c", "exec sleep 300"]',
        update=UPDATE.replace('min_healthy_time = "1s"', 'min_healthy_time = "3s"'),
    )
    commit = repo.commit(
        "db and api",
        **{"jobs__db.nomad.hcl": slow_db, "jobs__api.nomad.hcl": good("api", "a", needs_db)},
    )
    agent = start_agent(tmp_path, repo)
    try:
        held = wait_for(
            lambda: (s := job_status(agent, "api"))["Status"] == "held" and s, 30, "api held"
        )
        assert held["Detail"] == f"waiting for db to be healthy at commit {commit[:12]}"
        assert agent.http.get("/v1/job/api").status_code == 404
        db = wait_for(lambda: healthy_at(agent, "db", commit), 60, "db healthy")
        api = wait_for(lambda: healthy_at(agent, "api", commit), 60, "api rolled out after db")
        assert api["Status"] == "synced"
        db_job = agent.get("/v1/job/db")
        api_job = agent.get("/v1/job/api")
        assert api_job["SubmitTime"] > db_job["SubmitTime"] and db["Health"] == "healthy"

        cycle = repo.commit(
            "a cycle and a missing dependency",
            **{
                "jobs__db.nomad.hcl": good(
                    "db", "d2", '  meta = {\n    "gitorch.depends_on" = "api"\n  }\n'
                ),
                "jobs__lone.nomad.hcl": good(
                    "lone", "l", '  meta = {\n    "gitorch.depends_on" = "ghost"\n  }\n'
                ),
            },
        )
        report = sync(agent)
        assert report["Commit"] == cycle
        messages = {e["File"]: e["Message"] for e in report["Errors"]}
        assert "cycle" in messages["jobs/db.nomad.hcl"]
        assert "jobs/api.nomad.hcl" in messages["jobs/db.nomad.hcl"]
        assert messages["jobs/db.nomad.hcl"].startswith(
            "jobs/db.nomad.hcl:4: gitorch.depends_on cycle"
        )
        assert "'ghost'" in messages["jobs/lone.nomad.hcl"]
        assert agent.get("/v1/job/db")["Version"] == db_job["Version"]
    finally:
        agent.stop_jobs()
        agent.stop()


BATCH = """
job "once" {{
  type = "batch"
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo {tag}"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
    }}
  }}
}}
"""


def test_empty_folder_prunes_and_batch_reruns(tmp_path: Path, repo: GitRepo) -> None:
    repo.commit("batch a", **{"jobs__once.nomad.hcl": BATCH.format(tag="a")})
    agent = start_agent(tmp_path, repo)
    try:

        def completed(version: int) -> bool:
            return any(
                a["ClientStatus"] == "complete" and a["JobVersion"] == version
                for a in agent.allocs("once")
            )

        wait_for(lambda: completed(0), 60, "batch version 0 completed")
        b = repo.commit("batch b", **{"jobs__once.nomad.hcl": BATCH.format(tag="b")})
        assert synced_at(agent, b, "once")
        wait_for(lambda: completed(1), 60, "batch version 1 completed")
        again = repo.commit("batch a again", **{"jobs__once.nomad.hcl": BATCH.format(tag="a")})
        assert synced_at(agent, again, "once")
        wait_for(lambda: completed(2), 60, "batch back at content a runs again")

        gone = repo.commit("delete the last file", **{"jobs__once.nomad.hcl": None})
        assert synced_at(agent, gone, "once", "prune")
        again_report = sync(agent)  # the gone folder stays an empty one, not an error
        assert again_report["FetchError"] == "" and again_report["Changes"] == []
        assert agent.get("/v1/job/once")["Stop"] is True
        assert agent.get("/v1/gitops/status")["Jobs"] == []
    finally:
        agent.stop_jobs()
        agent.stop()
