"""The GitOps loop records what a person knows a commit by (subject, author, time), and
applies exactly the commit a dry run showed: a sync that expects another commit than the
branch head is refused (409) and changes nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import GitRepo
from test_loop_folder_revision import JOB, loop_for

from gitorch.core.state import StateStore
from gitorch.errors import ConflictError
from gitorch.gitsync.loop import same_commit
from gitorch.gitsync.status import gitops_status
from gitorch.server.eventsource import derive

pytestmark = pytest.mark.timeout(120)


def test_the_synced_commit_s_subject_author_and_time_are_recorded(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    before = time.time_ns() - 2_000_000_000
    sha = repo.commit(
        "Add web <script>x</script>\n\nthe body is not kept", **{"jobs__web.nomad.hcl": JOB}
    )
    loop, sink = loop_for(tmp_path, repo)
    report = loop.sync(dry_run=True)
    assert report.commit == sha and report.commit_subject == "Add web <script>x</script>"
    assert sink.store.gitsync.commit == ""  # a dry run records nothing
    loop.sync(dry_run=False)
    status = gitops_status(sink.store)
    assert status.commit == sha
    assert status.commit_subject == "Add web <script>x</script>"
    assert status.commit_author == "tester"
    assert before <= status.commit_time <= time.time_ns()


def test_a_long_subject_is_cut(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("x" * 1000, **{"jobs__web.nomad.hcl": JOB})
    loop, sink = loop_for(tmp_path, repo)
    loop.sync(dry_run=False)
    subject = sink.store.gitsync.commit_subject
    assert len(subject) == 200 and subject.endswith("…")


def test_apply_expecting_a_moved_head_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    shown = repo.commit("web", **{"jobs__web.nomad.hcl": JOB})
    loop, sink = loop_for(tmp_path, repo)
    assert loop.sync(dry_run=True).commit == shown
    moved = repo.commit("web v2", **{"jobs__web.nomad.hcl": JOB.replace("/bin/true", "/bin/false")})
    with pytest.raises(ConflictError) as err:
        loop.sync(dry_run=False, expected=shown)
    assert shown in str(err.value) and moved in str(err.value)
    assert sink.store.job("default", "web") is None and sink.store.gitsync.commit == ""
    report = loop.sync(dry_run=False, expected=moved[:12])
    assert report.commit == moved and [ch.action for ch in report.changes] == ["register"]


def test_same_commit_takes_a_full_sha_or_a_long_enough_prefix() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert same_commit(sha, sha) and same_commit(sha, sha.upper()[:7])
    assert not same_commit(sha, sha[:6]) and not same_commit(sha, "1123456789")


def test_a_recorded_sync_makes_a_gitops_event(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    sha = repo.commit("web", **{"jobs__web.nomad.hcl": JOB})
    loop, sink = loop_for(tmp_path, repo)
    recorded: list[object] = []
    real = sink.record_git
    sink.record_git = lambda cmd: (recorded.append(cmd), real(cmd))[1]  # type: ignore[method-assign]
    loop.sync(dry_run=False)
    store: StateStore = sink.store
    events = [e for cmd in recorded for e in derive(cmd, store, 7)]  # type: ignore[arg-type]
    assert [(e.topic, e.type, e.key) for e in events] == [("GitOps", "GitOpsSynced", sha)]
    assert events[0].payload["GitOps"]["Commit"] == sha
