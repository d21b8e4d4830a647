"""The GitOps record kept in replicated state: which commit is synced, which files failed,
which jobs are held back, suspended auto-syncs, and the bounded history of syncs."""

from __future__ import annotations

from typing import Literal

from gitorch.core.model.base import Model, replace

SyncStatus = Literal["synced", "out-of-sync", "error", "held", "suspended"]
Health = Literal["healthy", "progressing", "degraded", "missing"]
ChangeAction = Literal["register", "update", "prune", "unchanged", "held", "error"]

MAX_HISTORY = 50
"""Syncs kept in ``GitSync.history`` (oldest dropped first)."""


class FileError(Model, frozen=True, kw_only=True):
    file: str
    line: int = 0
    message: str


class HistoryChange(Model, frozen=True, kw_only=True):
    """One job a sync changed (or held back): the version it produced."""

    job_id: str
    action: ChangeAction
    version: int = 0
    detail: str = ""


class HistoryEntry(Model, frozen=True, kw_only=True):
    """One sync in ``gitorch gitops history``. ``result``: ``ok`` (every file synced),
    ``errors`` (some files failed; their jobs kept their last good version) or ``held``
    (some jobs were held back: a reverted rollout, ``depends_on``, suspended)."""

    commit: str
    time: int
    revision: str = ""  # the pinned revision when the sync was a ``sync --revision``
    changes: list[HistoryChange] = []
    errors: int = 0
    result: Literal["ok", "errors", "held"] = "ok"


class GitSync(Model, frozen=True, kw_only=True):
    """The last sync the leader committed: survives restarts and failovers."""

    repo: str = ""
    branch: str = ""
    commit: str = ""
    # the synced commit's subject line (cut short), author name, and author time (ns)
    commit_subject: str = ""
    commit_author: str = ""
    commit_time: int = 0
    synced_at: int = 0
    errors: list[FileError] = []
    # how many file errors were left out of ``errors`` to keep the record small
    errors_omitted: int = 0
    # located warnings of the files that synced (what gitorch does differently from
    # Nomad), bounded as ``errors`` are
    warnings: list[FileError] = []
    warnings_omitted: int = 0
    fetch_error: str = ""
    # file path -> job ID for every file that produced a job at ``commit`` (or before,
    # for a file that now fails: its job keeps its last good version)
    files: dict[str, str] = {}
    # job ID -> the job version that sync left registered: a different version in state
    # means someone changed the job by hand since (out of sync)
    job_versions: dict[str, int] = {}
    job_namespaces: dict[str, str] = {}  # job ID -> namespace
    # job ID -> why the sync did not apply the job's file (a reverted rollout,
    # depends_on waiting, suspended); the job keeps what it runs
    held: dict[str, str] = {}
    # job ID -> the commit whose rollout failed and was reverted (held until a newer
    # commit changes the job's file)
    reverted: dict[str, str] = {}
    # the revision auto-sync stays at after ``sync --revision`` ("" = the branch tip)
    pinned: str = ""
    history: list[HistoryEntry] = []  # the last MAX_HISTORY syncs that did something
    # job IDs whose auto-sync is suspended (set by SetGitopsSuspend only)
    suspended: list[str] = []

    def recorded_over(self, previous: GitSync) -> GitSync:
        """This sync as the state store keeps it: suspensions are not the loop's to set."""
        return replace(self, suspended=previous.suspended)

    def with_suspended(self, job_id: str, suspended: bool) -> GitSync:
        rest = [j for j in self.suspended if j != job_id]
        return replace(self, suspended=sorted([*rest, job_id]) if suspended else rest)


class GitopsJob(Model, frozen=True, kw_only=True):
    id: str
    file: str
    commit: str
    status: SyncStatus
    health: Health = "missing"
    version: int = 0
    deployment_id: str = ""
    deployment_status: str = ""
    suspended: bool = False
    detail: str = ""  # e.g. "degraded at C (reverted to version N from commit B)"


class GitopsStatus(Model, frozen=True, kw_only=True):
    """The body of GET /v1/gitops/status."""

    repo: str
    branch: str
    commit: str
    synced_at: int
    jobs: list[GitopsJob]
    errors: list[FileError]
    fetch_error: str = ""
    errors_omitted: int = 0
    pinned_revision: str = ""
    warnings: list[FileError] = []  # per file, located; the jobs run
    warnings_omitted: int = 0
    commit_subject: str = ""
    commit_author: str = ""
    commit_time: int = 0  # the commit's author time, ns


class SyncChange(Model, frozen=True, kw_only=True):
    job_id: str
    file: str
    action: ChangeAction
    version: int = 0
    detail: str = ""


class SyncReport(Model, frozen=True, kw_only=True):
    """What a sync did (or, with dry_run, would do), job by job."""

    commit: str
    dry_run: bool
    changes: list[SyncChange]
    errors: list[FileError]
    fetch_error: str = ""
    errors_omitted: int = 0
    revision: str = ""
    warnings: list[FileError] = []
    warnings_omitted: int = 0
    commit_subject: str = ""
    commit_author: str = ""
    commit_time: int = 0


class HistoryRollout(Model, frozen=True, kw_only=True):
    """A changed job in a history entry, with how its rollout ended (read now)."""

    job_id: str
    action: str
    version: int
    detail: str = ""
    deployment_id: str = ""
    deployment_status: str = ""


class HistoryItem(Model, frozen=True, kw_only=True):
    commit: str
    time: int
    revision: str
    result: str
    errors: int
    changes: list[HistoryRollout]
