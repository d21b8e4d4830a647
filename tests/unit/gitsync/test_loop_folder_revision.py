"""The GitOps loop on a real repository: deleting the last file prunes (the folder is
gone from Git), a wrong ``path`` stays an error, and a revision must be on the branch."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import GitRepo

from gitorch.core import commands as c
from gitorch.core.model import Job
from gitorch.core.state import StateStore
from gitorch.errors import BadRequestError
from gitorch.gitsync.loop import GitopsLoop, GitopsSettings

pytestmark = pytest.mark.timeout(120)

JOB = 'job "web" {\n  group "g" {\n    task "t" {\n      driver = "raw_exec"\n      config {\n        command = "/bin/true"\n      }\n    }\n  }\n}\n'


class Sink:
    def __init__(self) -> None:
        self.store = StateStore()

    @property
    def state(self) -> StateStore:
        return self.store

    def register_job(self, job: Job, submission: object = None) -> object:
        return self.store.apply(c.RegisterJob(now=time.time_ns(), job=job))

    def deregister_job(self, namespace: str, job_id: str, purge: bool) -> object:
        cmd = c.DeregisterJob(now=time.time_ns(), namespace=namespace, job_id=job_id, purge=purge)
        return self.store.apply(cmd)

    def record_git(self, cmd: c.RecordGitSync | c.RecordGitFetchError) -> None:
        self.store.apply(cmd)


def loop_for(tmp_path: Path, repo: GitRepo, path: str = "jobs") -> tuple[GitopsLoop, Sink]:
    sink = Sink()
    settings = GitopsSettings(repo=str(repo.path), path=path)
    return GitopsLoop(settings, tmp_path / "work", sink), sink


def test_deleting_the_last_file_prunes_its_job(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("web", **{"jobs__web.nomad.hcl": JOB})
    loop, sink = loop_for(tmp_path, repo)
    assert [ch.action for ch in loop.sync(dry_run=False).changes] == ["register"]
    gone = repo.commit("delete the last file", **{"jobs__web.nomad.hcl": None})
    report = loop.sync(dry_run=False)
    assert report.fetch_error == "" and report.commit == gone
    assert [(ch.job_id, ch.action) for ch in report.changes] == [("web", "prune")]
    job = sink.store.job("default", "web")
    assert job is not None and job.stop
    assert sink.store.gitsync.files == {}
    # the gone folder stays an empty one at the next syncs, not a fetch error
    later = repo.commit("an unrelated commit")
    report = loop.sync(dry_run=False)
    assert report.fetch_error == "" and report.commit == later and report.changes == []


def test_a_wrong_path_stays_an_error_and_prunes_nothing(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("web", **{"jobs__web.nomad.hcl": JOB})
    loop, sink = loop_for(tmp_path, repo)
    loop.sync(dry_run=False)
    wrong, _ = loop_for(tmp_path, repo, path="typo")
    wrong._sink = sink  # the same cluster, a misconfigured path after a restart
    report = wrong.sync(dry_run=False)
    assert "folder 'typo' not found" in report.fetch_error and report.changes == []
    job = sink.store.job("default", "web")
    assert job is not None and not job.stop


def test_a_wrong_path_from_the_start_is_an_error(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("web", **{"jobs__web.nomad.hcl": JOB})
    loop, sink = loop_for(tmp_path, repo, path="typo")
    for _ in range(2):
        report = loop.sync(dry_run=False)
        assert "folder 'typo' not found" in report.fetch_error and report.changes == []
    assert sink.store.job("default", "web") is None


def test_a_revision_must_be_on_the_branch(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    first = repo.commit("web", **{"jobs__web.nomad.hcl": JOB})
    repo.commit("web 2", **{"jobs__web.nomad.hcl": JOB.replace("/bin/true", "/bin/echo")})
    loop, sink = loop_for(tmp_path, repo)
    loop.sync(dry_run=False)
    pinned = loop.sync(dry_run=False, revision=first[:8])
    assert pinned.commit == first and sink.store.gitsync.pinned == first[:8]
    assert loop.sync(dry_run=False, revision=None).commit == first  # the loop stays pinned
    other = repo.git("commit-tree", "-m", "off the branch", repo.git("rev-parse", "HEAD^{tree}"))
    for bad in (other, "not-a-sha", "0" * 40):
        with pytest.raises(BadRequestError, match="branch 'main'"):
            loop.sync(dry_run=False, revision=bad)
    assert loop.sync(dry_run=False).commit == repo.git("rev-parse", "HEAD")
    assert sink.store.gitsync.pinned == ""
