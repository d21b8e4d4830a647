"""The GitOps record kept in replicated state: which commit is synced, which files failed."""

from __future__ import annotations

from typing import Literal

from gitorch.core.model.base import Model

SyncStatus = Literal["synced", "out-of-sync", "error"]


class FileError(Model, frozen=True, kw_only=True):
    file: str
    line: int = 0
    message: str


class GitSync(Model, frozen=True, kw_only=True):
    """The last sync the leader committed: survives restarts and failovers."""

    repo: str = ""
    branch: str = ""
    commit: str = ""
    synced_at: int = 0
    errors: list[FileError] = []
    # how many file errors were left out of ``errors`` to keep the record small
    errors_omitted: int = 0
    fetch_error: str = ""
    # file path -> job ID for every file that produced a job at ``commit`` (or before,
    # for a file that now fails: its job keeps its last good version)
    files: dict[str, str] = {}
    # job ID -> the job version that sync left registered: a different version in state
    # means someone changed the job by hand since (out of sync)
    job_versions: dict[str, int] = {}
    job_namespaces: dict[str, str] = {}  # job ID -> namespace


class GitopsJob(Model, frozen=True, kw_only=True):
    id: str
    file: str
    commit: str
    status: SyncStatus


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


class SyncChange(Model, frozen=True, kw_only=True):
    job_id: str
    file: str
    action: Literal["register", "update", "prune", "unchanged", "error"]
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
