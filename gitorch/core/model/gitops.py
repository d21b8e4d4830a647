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
    fetch_error: str = ""
    # file path -> job ID for every file that produced a job at ``commit``
    files: dict[str, str] = {}


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
