"""The GitOps loop (leader only): new commit -> jobspecs -> desired diff -> commands.

Triggers: the commit found at start (deployed at once), a ref watcher on local
repositories, the poll interval, the webhook, and ``gitorch sync``. Each file is
parsed once per blob SHA (and vars), in a worker process with a time and memory
budget (:mod:`gitorch.jobspec.isolate`); a file that fails, whatever the reason, blocks
only its own job and is listed with its line. The record kept in Raft is bounded (each
message cut to ``max_message_length``, all of them to ``max_errors_size``, the rest
counted; the files' warnings likewise). Any failure of a sync (a fetch, a missing vars
file, anything else) is retried with exponential backoff up to a cap, and logged once
per change of error, not once per
attempt; running jobs stay as they are meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from gitorch.core import commands as c
from gitorch.core import dependson, desired
from gitorch.core.gitopshealth import job_health
from gitorch.core.model import FileError, GitopsStatus, GitSync, Job
from gitorch.core.model.gitops import Health, HistoryItem, SyncChange, SyncReport
from gitorch.core.model.submission import JobSubmission, submission_problem
from gitorch.core.state import StateView
from gitorch.errors import BadRequestError, ConflictError, GitorchError
from gitorch.gitsync.history import add_history
from gitorch.gitsync.parse import CommitParser
from gitorch.gitsync.repo import (
    CommitInfo,
    FolderMissingError,
    GitSource,
    GitSourceError,
    RepoFile,
    RevisionError,
)
from gitorch.gitsync.status import gitops_history, gitops_status
from gitorch.gitsync.watch import RefWatcher
from gitorch.gitsync.webhook import verify_signature
from gitorch.jobspec.limits import DEFAULT_LIMITS, Limits
from gitorch.jobspec.redact import cut
from gitorch.jobspec.validate import DriverCheck

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
"""The longest wait between retries of a failing sync (or the poll interval, if longer)."""
DEPENDS_RECHECK_S = 1.0
"""While a job waits for its dependencies, the loop looks again this often."""


@dataclass(frozen=True)
class GitopsSettings:
    repo: str
    branch: str = "main"
    path: str = "jobs"
    poll_interval_s: float = 15.0
    vars_files: tuple[str, ...] = ()
    prune: bool = True
    webhook_secret: str = field(default="", repr=False)
    limits: Limits = DEFAULT_LIMITS


class Sink(Protocol):
    """The server operations the loop needs (implemented by gitorch.server.Server)."""

    @property
    def state(self) -> StateView: ...
    def register_job(self, job: Job, submission: JobSubmission | None = None) -> object: ...
    def deregister_job(self, namespace: str, job_id: str, purge: bool) -> object: ...
    def record_git(self, cmd: c.RecordGitSync | c.RecordGitFetchError) -> None: ...


class GitopsLoop:
    def __init__(
        self,
        settings: GitopsSettings,
        workdir: Path,
        sink: Sink,
        driver_check: DriverCheck | None = None,
    ) -> None:
        self.settings = settings
        self._sink = sink
        self._source = GitSource(settings.repo, settings.branch, workdir)
        self._parser = CommitParser(
            self._source,
            vars_files=settings.vars_files,
            limits=settings.limits,
            driver_check=driver_check,
        )
        self._sync_lock = threading.Lock()
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher: RefWatcher | None = None
        self._backoff = 0.0
        self._last_failure = ""
        self._last_errors: frozenset[str] = frozenset()

    # -- lifecycle (leadership) -----------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._kick.set()  # the commit found at start is deployed at once
        self._thread = threading.Thread(target=self._run, name="gitops", daemon=True)
        self._thread.start()
        refs = self._source.local_refs_path()
        if refs is not None:
            try:
                self._watcher = RefWatcher(refs, self.kick)
                self._watcher.start()
            except Exception as exc:  # the poll still runs
                log.warning(
                    "cannot watch %s (%s); polling every %ss",
                    refs,
                    exc,
                    self.settings.poll_interval_s,
                )
                self._watcher = None

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def kick(self) -> None:
        self._kick.set()

    def webhook(self, body: bytes, signature: str | None) -> bool:
        secret = self.settings.webhook_secret
        if not secret or not verify_signature(secret, body, signature):
            return False
        self.kick()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self._backoff or self.settings.poll_interval_s
            self._kick.wait(timeout=wait)
            self._kick.clear()
            if self._stop.is_set():
                return
            report: SyncReport | None = None
            try:
                report = self.sync(dry_run=False, revision=None)
                failure = report.fetch_error
            except Exception as exc:  # noqa: BLE001 - any failure: back off, log once
                failure = cut(f"{type(exc).__name__}: {exc}", 500)
                if failure != self._last_failure:
                    log.warning("GitOps sync failed", exc_info=True)
            self._after_sync(failure, report)

    def _after_sync(self, failure: str, report: SyncReport | None) -> None:
        """Back off exponentially while syncs fail; log each change of state once. While a
        job waits for its dependencies, look again after DEPENDS_RECHECK_S."""
        waiting = report is not None and any(
            ch.action == "held" and ch.detail.startswith("waiting for") for ch in report.changes
        )
        if failure:
            cap = max(self.settings.poll_interval_s, MAX_BACKOFF_S)
            self._backoff = min(max(self._backoff * 2, 1.0), cap)
            if failure != self._last_failure:
                log.warning(
                    "GitOps sync failed: %s (retrying with backoff up to %gs; "
                    "logged again only when the error changes)",
                    failure,
                    cap,
                )
        else:
            if self._last_failure:
                log.info("GitOps sync recovered")
            self._backoff = (
                min(DEPENDS_RECHECK_S, self.settings.poll_interval_s) if waiting else 0.0
            )
        self._last_failure = failure
        if report is not None and not failure:
            self._log_file_errors(report)

    def _log_file_errors(self, report: SyncReport) -> None:
        errors = frozenset(f"{e.file}:{e.line}" for e in report.errors)
        if errors == self._last_errors:
            return
        self._last_errors = errors
        if not errors:
            log.info("GitOps: every file syncs again")
            return
        shown = ", ".join(sorted(errors)[:10]) + (" ..." if len(errors) > 10 else "")
        more = f" (+{report.errors_omitted} not recorded)" if report.errors_omitted else ""
        log.warning(
            "GitOps: %d file(s) cannot be synced%s: %s (details: /v1/gitops/status)",
            len(errors),
            more,
            shown,
        )

    # -- one sync -------------------------------------------------------------------

    def sync(self, dry_run: bool, revision: str | None = "", expected: str = "") -> SyncReport:
        """Sync now. ``revision``: a SHA of the branch to deploy (auto-sync then stays at
        it); ``""``: the branch tip (and auto-sync follows the tip again); None (the
        loop): the pinned revision if there is one, else the tip. ``expected``: the
        commit a dry run showed; when the commit to sync is another one (the branch
        moved since), nothing is done and ConflictError (409) names both."""
        with self._sync_lock:
            try:
                tip = self._source.fetch()
                pin = self._sink.state.gitsync.pinned if revision is None else revision
                commit = self._source.resolve_on_branch(pin) if pin else tip
            except RevisionError as exc:
                if revision:
                    raise BadRequestError(str(exc)) from exc
                why = f"pinned {exc}, or follow the tip again with 'gitorch sync'"
                return self._fetch_failed(why, dry_run)
            except (GitSourceError, GitorchError, OSError) as exc:
                return self._fetch_failed(str(exc), dry_run)
            if expected and not same_commit(commit, expected):
                what = (
                    f"revision {pin[:12]}"
                    if pin
                    else f"the head of branch {self.settings.branch!r}"
                )
                raise ConflictError(
                    f"expected commit {expected} but {what} is now {commit}: the branch moved "
                    "since the dry run; run the dry run again and apply what it shows"
                )
            info = self._commit_info(commit)
            if self._sink.state.gitsync.fetch_error and not dry_run:
                self._sink.record_git(c.RecordGitFetchError(now=time.time_ns(), message=""))
            try:
                wanted, errors = self._parser.parse(commit, self._files(commit))
            except (GitSourceError, OSError, UnicodeDecodeError) as exc:  # a path or vars file
                return self._fetch_failed(str(exc), dry_run)
            state = self._sink.state
            registered = {job_id for (_, job_id), j in state.jobs.items() if not j.stop}
            wanted, dep_errors = dependson.check(wanted, registered, self._parser.line_of(wanted))
            errors, omitted = bounded_errors(errors + dep_errors, self.settings.limits)
            warned = bounded_errors(self._parser.warnings, self.settings.limits)
            error_files = {e.file for e in errors}
            changes = desired.diff(
                wanted,
                state,
                error_files,
                prune=self.settings.prune,
                suspended=state.gitsync.suspended,
            )
            changes = dependson.hold(changes, self._health(state, wanted), commit)
            report = [
                SyncChange(
                    job_id=ch.job_id,
                    file=ch.file,
                    action=ch.action,
                    version=ch.version,
                    detail=ch.detail,
                )
                for ch in changes
            ]
            report += [
                SyncChange(job_id="", file=e.file, action="error", detail=e.message) for e in errors
            ]
            if not dry_run:
                self._apply(changes)
                self._record(commit, wanted, errors, omitted, changes, pin or "", warned, info)
            return SyncReport(
                commit=commit,
                dry_run=dry_run,
                changes=report,
                errors=errors,
                errors_omitted=omitted,
                revision=pin or "",
                warnings=warned[0],
                warnings_omitted=warned[1],
                commit_subject=info.subject,
                commit_author=info.author,
                commit_time=info.time_ns,
            )

    def _commit_info(self, commit: str) -> CommitInfo:
        try:
            return self._source.commit_info(commit)
        except (GitSourceError, OSError) as exc:  # shown without them; the sync goes on
            log.warning("GitOps: cannot read commit %s: %s", commit[:12], exc)
            return CommitInfo(subject="", author="", time_ns=0)

    @staticmethod
    def _health(state: StateView, wanted: list[desired.DesiredJob]) -> dict[str, Health]:
        """Health of every job some wanted job depends on."""
        namespaces = {d.job.id: d.job.namespace for d in wanted}
        health: dict[str, Health] = {}
        for d in wanted:
            for dep in dependson.dependencies(d.job):
                if dep not in health:
                    ns = namespaces.get(dep, d.job.namespace)
                    health[dep] = job_health(state, state.job(ns, dep))[0]
        return health

    def _fetch_failed(self, message: str, dry_run: bool) -> SyncReport:
        message = cut(message, self.settings.limits.max_message_length)
        if not dry_run and self._sink.state.gitsync.fetch_error != message:
            self._sink.record_git(c.RecordGitFetchError(now=time.time_ns(), message=message))
        last = self._sink.state.gitsync
        return SyncReport(
            commit=last.commit, dry_run=dry_run, changes=[], errors=[], fetch_error=message
        )

    def _files(self, commit: str) -> list[RepoFile]:
        """The files under ``path`` at ``commit``. Git keeps no empty folders, so deleting
        the last file removes the folder: when the folder held files at the last synced
        commit of this repository and branch, a missing folder is an empty one (its jobs
        are pruned), and stays one at later syncs; otherwise (a wrong ``path``) it is an
        error and nothing changes."""
        try:
            return self._source.files(commit, self.settings.path)
        except FolderMissingError:
            last = self._sink.state.gitsync
            same = (last.repo, last.branch) == (self.settings.repo, self.settings.branch)
            if not (same and last.commit):
                raise
            try:  # the folder held the synced files at the last commit: now it is empty
                self._source.files(last.commit, self.settings.path)
            except GitSourceError as exc:
                if isinstance(exc, FolderMissingError) and not last.files:
                    return []  # it was already synced as gone (empty): it still is
                raise FolderMissingError(
                    f"folder {self.settings.path!r} not found at commit {commit[:12]} nor at "
                    f"the last synced commit {last.commit[:12]}: create it or fix gitops.path"
                ) from None
            return []

    def _apply(self, changes: list[desired.Change]) -> None:
        for ch in changes:
            try:
                if ch.action in ("register", "update") and ch.job is not None:
                    self._sink.register_job(ch.job, self._submission(ch.file))
                elif ch.action == "prune":
                    self._sink.deregister_job(ch.namespace, ch.job_id, False)
            except GitorchError as exc:
                log.error(
                    "%s: applying %s of job %s failed: %s", ch.file, ch.action, ch.job_id, exc
                )

    def _submission(self, file: str) -> JobSubmission | None:
        """The file's source as parsed, or None (logged) when it is over the cap."""
        sub = self._parser.submissions.get(file)
        if sub is not None and (problem := submission_problem(sub)):
            log.warning("%s: the job is registered without its source: %s", file, problem)
            return None
        return sub

    def _record(
        self,
        commit: str,
        wanted: list[desired.DesiredJob],
        errors: list[FileError],
        omitted: int,
        changes: list[desired.Change],
        pin: str,
        warned: tuple[list[FileError], int] = ([], 0),
        info: CommitInfo | None = None,
    ) -> None:
        state = self._sink.state
        previous = state.gitsync
        files = {d.file: d.job.id for d in wanted}
        for e in errors:
            if e.file in previous.files:
                files[e.file] = previous.files[e.file]
        namespaces = {d.job.id: d.job.namespace for d in wanted}
        for job_id in files.values():
            namespaces.setdefault(job_id, previous.job_namespaces.get(job_id, "default"))
        versions = {}
        for job_id in files.values():
            job = state.job(namespaces[job_id], job_id)
            if job is not None:
                versions[job_id] = job.version
        held = {ch.job_id: ch.detail for ch in changes if ch.action == "held"}
        reverted = {ch.job_id: ch.reverted for ch in changes if ch.reverted}
        now = time.time_ns()
        sync = GitSync(
            repo=self.settings.repo,
            branch=self.settings.branch,
            commit=commit,
            commit_subject=info.subject if info is not None else "",
            commit_author=info.author if info is not None else "",
            commit_time=info.time_ns if info is not None else 0,
            synced_at=now,
            errors=errors,
            errors_omitted=omitted,
            warnings=warned[0],
            warnings_omitted=warned[1],
            files=files,
            job_versions=versions,
            job_namespaces=namespaces,
            held=held,
            reverted=reverted,
            pinned=pin,
            history=add_history(previous, commit, now, pin, changes, len(errors) + omitted),
        )
        self._sink.record_git(c.RecordGitSync(now=now, sync=sync))

    def status(self, state: StateView) -> GitopsStatus:
        return gitops_status(state)

    def history(self, state: StateView) -> list[HistoryItem]:
        return gitops_history(state)


def same_commit(commit: str, expected: str) -> bool:
    """Whether ``expected`` (a full SHA, or a prefix of at least 7 hex digits) names
    ``commit``."""
    want = expected.strip().lower()
    return commit == want or (len(want) >= 7 and commit.startswith(want))


def bounded_errors(errors: list[FileError], limits: Limits) -> tuple[list[FileError], int]:
    """``errors`` with each message cut to ``max_message_length`` and, once their total
    passes ``max_errors_size``, the rest left out: (kept, how many were left out)."""
    kept: list[FileError] = []
    total = 0
    for i, e in enumerate(errors):
        message = cut(e.message, limits.max_message_length)
        total += len(message) + len(e.file)
        if total > limits.max_errors_size:
            return kept, len(errors) - i
        kept.append(FileError(file=e.file, line=e.line or 1, message=message))
    return kept, 0
