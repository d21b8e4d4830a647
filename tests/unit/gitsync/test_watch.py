"""RefWatcher against real repositories changed with the git CLI."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitorch.gitsync.repo import GitSource
from gitorch.gitsync.watch import RefWatcher, WatchError

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
FIRES_WITHIN = 1.0  # seconds


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def commit(repo: Path, name: str, text: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"write {name}")
    return git(repo, "rev-parse", "HEAD")


class Calls:
    """Counts on_change calls; `wait_new()` waits for a call after the last check."""

    def __init__(self) -> None:
        self.count = 0
        self.seen = 0
        self.cond = threading.Condition()

    def __call__(self) -> None:
        with self.cond:
            self.count += 1
            self.cond.notify_all()

    def settle(self, quiet: float = 0.2) -> None:
        time.sleep(quiet)
        with self.cond:
            self.seen = self.count

    def wait_new(self, timeout: float = FIRES_WITHIN) -> float:
        start = time.monotonic()
        with self.cond:
            assert self.cond.wait_for(lambda: self.count > self.seen, timeout), "no on_change"
            self.seen = self.count
        return time.monotonic() - start


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    repo = tmp_path / "src"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "a.hcl", "a\n")
    return repo


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def watching(worktree: Path, calls: Calls) -> Iterator[RefWatcher]:
    watcher = RefWatcher(worktree / ".git", calls)
    watcher.start()
    calls.settle()
    yield watcher
    watcher.stop()


def test_fires_after_commit_in_worktree(
    worktree: Path, calls: Calls, watching: RefWatcher, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(worktree, "b.hcl", "b\n")
    latency = calls.wait_new()
    with capsys.disabled():
        print(f"\n[gitsync] watcher fired {latency * 1000:.0f} ms after git commit returned")


def test_fires_after_amend(worktree: Path, calls: Calls, watching: RefWatcher) -> None:
    git(worktree, "commit", "-q", "--amend", "-m", "amended")
    calls.wait_new()


def test_fires_when_branch_written_through_packed_refs(
    worktree: Path, calls: Calls, watching: RefWatcher
) -> None:
    git(worktree, "pack-refs", "--all", "--prune")
    calls.wait_new()
    calls.settle()
    packed = worktree / ".git/packed-refs"
    head = git(worktree, "rev-parse", "HEAD")
    parent = git(worktree, "rev-parse", "HEAD~0^{tree}")  # any 40-hex change will do
    tmp = worktree / ".git/packed-refs.lock"
    tmp.write_text(packed.read_text().replace(head, parent))
    tmp.replace(packed)
    calls.wait_new()


def test_fires_after_push_into_bare_repo(tmp_path: Path, worktree: Path, calls: Calls) -> None:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(worktree, "push", "-q", str(bare), "main")
    with RefWatcher(bare, calls):
        calls.settle()
        commit(worktree, "b.hcl", "b\n")
        git(worktree, "push", "-q", str(bare), "main")
        calls.wait_new()
        git(worktree, "push", "-q", str(bare), "main:refs/heads/feature/x")  # new ref folder
        calls.wait_new()
        commit(worktree, "c.hcl", "c\n")
        git(worktree, "push", "-q", str(bare), "main:feature/x")
        calls.wait_new()


def test_index_and_object_writes_do_not_fire(
    worktree: Path, calls: Calls, watching: RefWatcher
) -> None:
    (worktree / "new.hcl").write_text("n\n")
    git(worktree, "add", "new.hcl")  # writes an object and the index, not a ref
    git(worktree, "status", "--short")
    time.sleep(0.4)
    assert calls.count == calls.seen


def test_stop_stops(worktree: Path, calls: Calls) -> None:
    watcher = RefWatcher(worktree / ".git", calls)
    watcher.start()
    commit(worktree, "b.hcl", "b\n")
    calls.wait_new()
    watcher.stop()
    watcher.stop()  # idempotent
    calls.settle(0)
    commit(worktree, "c.hcl", "c\n")
    time.sleep(0.4)
    assert calls.count == calls.seen
    assert not [t for t in threading.enumerate() if t.name.startswith("gitorch-refwatch")]


def test_coalesces_a_burst_and_survives_a_failing_callback(worktree: Path) -> None:
    calls: list[float] = []

    def flaky() -> None:
        calls.append(time.monotonic())
        raise RuntimeError("callback bug")

    with RefWatcher(worktree / ".git", flaky, debounce=0.05):
        time.sleep(0.2)
        calls.clear()
        for i in range(5):
            commit(worktree, f"burst{i}.hcl", "x\n")
        time.sleep(0.6)
        assert 1 <= len(calls) <= 5  # coalesced, and the thread survived the exceptions
        burst = len(calls)
        commit(worktree, "after.hcl", "x\n")
        deadline = time.monotonic() + FIRES_WITHIN
        while len(calls) == burst and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(calls) > burst


def test_not_a_git_dir(tmp_path: Path) -> None:
    with pytest.raises(WatchError, match="not a git dir"):
        RefWatcher(tmp_path, lambda: None).start()


def test_watcher_with_git_source(tmp_path: Path, worktree: Path) -> None:
    """The intended use: a change event triggers fetch(), which sees the new commit."""
    source = GitSource(str(worktree), "main", tmp_path / "clone")
    source.fetch()
    refs = source.local_refs_path()
    assert refs is not None
    seen: list[str] = []
    done = threading.Event()

    def on_change() -> None:
        seen.append(source.fetch())
        done.set()

    with RefWatcher(refs, on_change):
        time.sleep(0.2)
        done.clear()
        head = commit(worktree, "b.hcl", "b\n")
        assert done.wait(FIRES_WITHIN)
        deadline = time.monotonic() + FIRES_WITHIN
        while seen[-1] != head and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen[-1] == head
