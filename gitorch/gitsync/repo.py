"""A Git source: a bare clone of one branch, kept current by fetch (the only gitpython import)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from gitorch import errors

# Without this, importing gitpython on a host with no git executable raises ImportError;
# we would rather fail at the first fetch with a readable GitSourceError.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import git  # noqa: E402
from git.refs.symbolic import SymbolicReference  # noqa: E402

_HEX_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REGULAR_FILE_MODES = (0o100644, 0o100755)
_FETCH_ENV = {"GIT_TERMINAL_PROMPT": "0"}  # never wait for a password on a terminal


class GitSourceError(errors.GitSourceError):
    """A Git source could not be read; the message names the URL, the branch and a next step."""


class FolderMissingError(GitSourceError):
    """The jobspec folder is not in the tree at a commit (Git keeps no empty folders)."""


class RevisionError(GitSourceError):
    """A revision asked for is not a commit of the followed branch."""


@dataclass(frozen=True)
class CommitInfo:
    """What a person recognizes a commit by: its subject line, author name, author time."""

    subject: str
    author: str
    time_ns: int


SUBJECT_MAX = 200  # characters of a subject kept (the record stays small)
AUTHOR_MAX = 100


@dataclass(frozen=True)
class RepoFile:
    """One file at a commit: its posix path from the repo root and its blob SHA."""

    path: str
    blob_sha: str
    size: int = -1  # bytes; -1 when not known


class GitSource:
    """One branch of one repository, mirrored into `workdir` (a bare clone owned by gitorch).

    Thread-safe: calls are serialized by a lock. Symlinks and submodules are not listed by
    `files()`: a jobspec is always a regular file.
    """

    def __init__(self, url: str, branch: str, workdir: Path, *, timeout: float = 300.0) -> None:
        if not branch or branch.startswith("-") or re.search(r"[\s:~^?*\[\\]|\.\.", branch):
            raise GitSourceError(f"invalid branch name {branch!r} for {url}: fix gitops.branch")
        self._local = _local_path(url)
        # A relative local path must not depend on the cwd of the git subprocess.
        self._url = str(self._local) if self._local and "://" not in url else url
        self._shown_url = _redact(url)
        self._branch = branch
        self._ref = f"refs/heads/{branch}"
        self._workdir = Path(workdir).absolute()
        self._timeout = timeout
        self._lock = threading.Lock()
        self._mirror: git.Repo | None = None
        self._source: git.Repo | None = None
        self._tip: str | None = None

    @property
    def is_local(self) -> bool:
        """True when the source is a repository on this machine (a path or a file:// URL)."""
        return self._local is not None

    def local_refs_path(self) -> Path | None:
        """The git dir whose changes mean "new commit", for a local source that exists."""
        with self._lock:
            source = self._open_source()
            return Path(source.common_dir).resolve() if source is not None else None

    def fetch(self) -> str:
        """Clone on the first call, else fetch; return the commit SHA at the tip of the branch."""
        with self._lock:
            mirror = self._mirror or self._open_existing()
            if mirror is None:
                self._mirror = self._clone()
                return self._tip_or_error()
            self._mirror = mirror
            if self._tip is not None and self._source_tip() == self._tip:
                return self._tip  # local fast path: the source ref still names our tip
            self._run_fetch(mirror)
            self._tip = _read_ref(mirror, self._ref)
            return self._tip_or_error()

    def files(self, commit: str, under: str) -> list[RepoFile]:
        """Every regular file under the folder `under` ("" or "." = whole repo), sorted by path."""
        folder = _normalize_folder(under, self._shown_url)
        with self._lock:
            mirror = self._require_mirror()
            try:
                tree = mirror.commit(commit).tree
            except (ValueError, git.BadName, git.BadObject) as exc:
                raise self._error(
                    f"commit {commit!r} not found in the clone of {{where}}", "fetch first"
                ) from exc
            if folder:
                try:
                    tree = tree / folder
                except KeyError:
                    err = self._error(
                        f"folder {folder!r} not found at commit {commit[:12]}",
                        "create it or fix gitops.path",
                    )
                    raise FolderMissingError(str(err)) from None
                if tree.type != "tree":
                    raise self._error(f"{folder!r} is a file, not a folder", "fix gitops.path")
            found = _list_tree(mirror, tree.hexsha, folder)
        return sorted(found, key=lambda f: f.path)

    def resolve_on_branch(self, revision: str) -> str:
        """The full SHA of ``revision`` (a SHA or a prefix of one), which must be the
        fetched tip of the branch or one of its ancestors."""
        with self._lock:
            mirror = self._require_mirror()
            tip = self._tip_or_error()
            if not re.fullmatch(r"[0-9a-fA-F]{4,64}", revision):
                raise RevisionError(
                    f"revision {revision!r} is not a commit SHA: give a SHA of branch "
                    f"{self._branch!r} (git log {self._branch})"
                )
            try:
                found = mirror.commit(revision.lower())
                on_branch = found.hexsha == tip or mirror.is_ancestor(found, mirror.commit(tip))
            except (ValueError, git.BadName, git.BadObject, git.GitCommandError):
                on_branch = False
            if not on_branch:
                raise RevisionError(
                    f"revision {revision!r} is not on branch {self._branch!r} of "
                    f"{self._shown_url}: give a SHA from 'git log {self._branch}'"
                )
            return str(found.hexsha)

    def commit_info(self, commit: str) -> CommitInfo:
        """The subject (first line of the message), author name and author time of a
        fetched commit, each cut short."""
        with self._lock:
            mirror = self._require_mirror()
            try:
                found = mirror.commit(commit)
                message = found.message
                author = found.author.name or ""
                when = int(found.authored_date)
            except (ValueError, git.BadName, git.BadObject) as exc:
                raise self._error(
                    f"commit {commit!r} not found in the clone of {{where}}", "fetch first"
                ) from exc
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        subject = text.strip().split("\n", 1)[0].strip() if text.strip() else ""
        return CommitInfo(
            subject=_shorten(subject, SUBJECT_MAX),
            author=_shorten(author.strip(), AUTHOR_MAX),
            time_ns=when * 1_000_000_000,
        )

    def read(self, blob_sha: str) -> bytes:
        """The content of a blob."""
        with self._lock:
            mirror = self._require_mirror()
            if not _HEX_SHA.fullmatch(blob_sha):
                raise self._error(f"{blob_sha!r} is not a full blob SHA", "pass RepoFile.blob_sha")
            try:
                stream = mirror.odb.stream(bytes.fromhex(blob_sha))
            except ValueError as exc:
                raise self._error(
                    f"blob {blob_sha} not found in the clone of {{where}}", "fetch first"
                ) from exc
            data = stream.read()
            if stream.type != b"blob":
                raise self._error(f"object {blob_sha} is a {stream.type!r}, not a blob", "")
            return bytes(data)

    def close(self) -> None:
        """Stop gitpython's helper processes; the source stays usable (reopened on demand)."""
        with self._lock:
            for repo in (self._mirror, self._source):
                if repo is not None:
                    repo.close()
            self._mirror = self._source = None
            self._tip = None

    def _error(self, what: str, todo: str) -> GitSourceError:
        where = self._shown_url
        if repr(self._branch) not in what:
            where += f" (branch {self._branch!r})"
        what = what.replace("{where}", where) if "{where}" in what else f"{what} in {where}"
        return GitSourceError(what + (f": {todo}" if todo else ""))

    def _check_local(self) -> None:
        """Explain a missing or non-repository local path before git says it obscurely."""
        if self._local is None:
            return
        if not self._local.exists():
            raise self._error("{where} does not exist", "create it (git init) or fix gitops.repo")
        if self._open_source() is None:
            raise self._error(
                "{where} is not a git repository", "run 'git init' there or fix gitops.repo"
            )

    def _tip_or_error(self) -> str:
        if self._tip is None:
            raise self._error(f"branch {self._branch!r} missing after fetch", "retry")
        return self._tip

    def _require_mirror(self) -> git.Repo:
        if self._mirror is None:
            self._mirror = self._open_existing()
            if self._mirror is None:
                raise self._error("no clone of {where} yet", "call fetch() first")
        return self._mirror

    def _open_source(self) -> git.Repo | None:
        if self._local is None:
            return None
        if self._source is None:
            try:
                self._source = git.Repo(self._local)
            except (git.NoSuchPathError, git.InvalidGitRepositoryError):
                return None
        return self._source

    def _source_tip(self) -> str | None:
        """The source's branch tip read straight from its ref files; None when unknown."""
        source = self._open_source()
        if source is None:
            return None
        tip = _read_ref(source, self._ref)
        if tip is None:  # maybe the repo was replaced at that path: reopen next time
            source.close()
            self._source = None
        return tip

    def _open_existing(self) -> git.Repo | None:
        """The clone already in workdir (from an earlier run), or None for an empty workdir."""
        if not self._workdir.is_dir() or not any(self._workdir.iterdir()):
            return None
        try:
            mirror = git.Repo(self._workdir)
        except git.InvalidGitRepositoryError:
            raise self._error(
                f"workdir {self._workdir} exists but is not a gitorch clone", "remove it"
            ) from None
        if not mirror.bare:
            mirror.close()
            raise self._error(f"workdir {self._workdir} is not a bare clone", "remove it")
        with mirror.config_writer() as config:  # gitops.repo may have changed since
            config.set_value('remote "origin"', "url", self._url)
        self._tip = _read_ref(mirror, self._ref)
        return mirror

    def _clone(self) -> git.Repo:
        """Clone into a temporary sibling, then rename: a failed clone leaves nothing behind."""
        parent = self._workdir.parent
        parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{self._workdir.name}.partial-"
        for stale in parent.glob(prefix + "*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        try:
            try:
                repo = git.Repo.init(tmp, bare=True)
                repo.git.symbolic_ref("HEAD", self._ref)
            except git.GitCommandNotFound as exc:
                raise self._error("git executable not found", "install git") from exc
            with repo.config_writer() as config:
                config.set_value('remote "origin"', "url", self._url)
                config.set_value('remote "origin"', "fetch", f"+{self._ref}:{self._ref}")
            self._run_fetch(repo)
            tip = _read_ref(repo, self._ref)
            repo.close()
            if self._workdir.exists():
                self._workdir.rmdir()  # empty, checked by the caller
            os.rename(tmp, self._workdir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._tip = tip
        return git.Repo(self._workdir)

    def _run_fetch(self, repo: git.Repo) -> None:
        self._check_local()
        try:
            repo.git.fetch(
                "-q",
                "--no-tags",
                "origin",
                f"+{self._ref}:{self._ref}",
                env=_FETCH_ENV,
                kill_after_timeout=self._timeout,
            )
        except git.GitCommandNotFound as exc:
            raise self._error("git executable not found", "install git") from exc
        except git.GitCommandError as exc:
            raise self._fetch_error(str(exc.stderr or "")) from None

    def _fetch_error(self, stderr: str) -> GitSourceError:
        low = stderr.lower()
        if "couldn't find remote ref" in low:
            return self._error(
                f"branch {self._branch!r} not found", "create it or set gitops.branch"
            )
        if "does not appear to be a git repository" in low or "not found" in low:
            todo = (
                "run 'git init' there or fix gitops.repo"
                if self.is_local
                else "fix gitops.repo or its credentials"
            )
            return self._error("no git repository found", todo)
        detail = _last_lines(stderr).replace(self._url, self._shown_url) or "no output"
        return self._error(f"fetch failed ({detail})", "check gitops.repo, network and credentials")


def _read_ref(repo: git.Repo, ref: str) -> str | None:
    """A ref's SHA read from the loose ref file or packed-refs without a subprocess."""
    try:
        return str(SymbolicReference.dereference_recursive(repo, ref))
    except (ValueError, OSError, TypeError):
        return None


def _local_path(url: str) -> Path | None:
    """The filesystem path of a local URL, following git's rules; None for a remote URL."""
    if url.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    if "://" in url:
        return None
    colon, slash = url.find(":"), url.find("/")
    if colon > 0 and (slash == -1 or colon < slash):
        return None  # scp-like ssh syntax: [user@]host:path
    return Path(url).expanduser().absolute()


def _normalize_folder(under: str, shown_url: str) -> str:
    parts = [p for p in under.replace("\\", "/").split("/") if p not in ("", ".")]
    if under.startswith("/") or ".." in parts:
        raise GitSourceError(f"path {under!r} must be relative to the root of {shown_url}")
    return "/".join(parts)


def _redact(url: str) -> str:
    """The URL without a password or token, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    if parts.password is not None:
        netloc = f"{parts.username}:***@{host}"
    elif parts.scheme in ("http", "https"):
        netloc = f"***@{host}"  # a token passed as the user name
    else:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _last_lines(stderr: str) -> str:
    text = stderr.strip()
    text = text.removeprefix("stderr:").strip().strip("'").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[-3:])


def _list_tree(mirror: git.Repo, tree_sha: str, folder: str) -> list[RepoFile]:
    """Every regular file in the tree, with its size, from one ``git ls-tree -r -l``
    (walking the tree object by object costs one object lookup per file: a 2,000-file
    repository took 0.36 s per sync that way)."""
    out = mirror.git.ls_tree("-r", "-l", "-z", tree_sha)
    prefix = f"{folder}/" if folder else ""
    found: list[RepoFile] = []
    for record in out.split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, kind, sha, size = meta.split()
        if kind == "blob" and int(mode, 8) in _REGULAR_FILE_MODES:
            found.append(RepoFile(path=prefix + path, blob_sha=sha, size=int(size)))
    return found
