"""The GitOps loop under failure: retries back off and are logged once per change of
error; the sync record stays small whatever the repository holds."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from gitorch.core import commands as c
from gitorch.core.model import FileError, Job
from gitorch.core.state import StateStore
from gitorch.gitsync.loop import GitopsLoop, GitopsSettings, bounded_errors
from gitorch.jobspec.limits import Limits

pytestmark = pytest.mark.timeout(60)


class Sink:
    """The server side of the loop, over a real state store."""

    def __init__(self) -> None:
        self.store = StateStore()
        self.fetch_errors: list[str] = []

    @property
    def state(self) -> StateStore:
        return self.store

    def register_job(self, job: Job, submission: object = None) -> object:
        return self.store.apply(c.RegisterJob(now=time.time_ns(), job=job))

    def deregister_job(self, namespace: str, job_id: str, purge: bool) -> object:
        raise AssertionError("nothing to prune here")

    def record_git(self, cmd: c.RecordGitSync | c.RecordGitFetchError) -> None:
        if isinstance(cmd, c.RecordGitFetchError):
            self.fetch_errors.append(cmd.message)
        self.store.apply(cmd)


def test_failing_fetch_backs_off_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = Sink()
    settings = GitopsSettings(repo=str(tmp_path / "no-such-repo"), poll_interval_s=0.2)
    loop = GitopsLoop(settings, tmp_path / "work", sink)
    attempts: list[float] = []
    real_sync = loop.sync

    def counted(dry_run: bool, revision: str | None = ""):  # type: ignore[no-untyped-def]
        attempts.append(time.monotonic())
        return real_sync(dry_run, revision)

    loop.sync = counted  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="gitorch.gitsync.loop"):
        loop.start()
        time.sleep(4.5)
        loop.stop()
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    # a 0.2 s poll would try ~22 times; backing off from 1 s: at 0, 1, 3 s (then 7 s)
    assert 2 <= len(attempts) <= 4, gaps
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:], strict=False)), gaps
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "no-such-repo" in warnings[0].getMessage()
    assert len(sink.fetch_errors) == 1  # recorded once, not once per attempt


def test_the_sync_record_is_bounded_and_counts_what_it_leaves_out() -> None:
    limits = Limits(max_message_length=100, max_errors_size=1000)
    errors = [FileError(file=f"jobs/{i}.hcl", line=0, message="x" * 5000) for i in range(50)]
    kept, omitted = bounded_errors(errors, limits)
    assert kept and omitted == 50 - len(kept)
    assert sum(len(e.message) + len(e.file) for e in kept) <= 1000
    assert all(len(e.message) <= 100 + 40 and e.line == 1 for e in kept)
    assert bounded_errors(errors[:2], Limits()) == (
        [FileError(file=e.file, line=1, message=e.message[:1024] + "... (3976 more characters)")
         for e in errors[:2]],
        0,
    )  # fmt: skip
