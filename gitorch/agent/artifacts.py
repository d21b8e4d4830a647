"""The task's artifact hook: fetch each ``artifact`` block into the task dir before the
task starts (after the dispatch payload, before the templates, as in Nomad).

For each artifact, in order:

1. ``source``, ``destination``, ``options`` and ``headers`` are interpolated with the
   task's environment and node values, then checked (:mod:`gitorch.core.artifact`).
2. The source is fetched into a staging directory inside the task dir: an HTTP(S)
   download, a copy of a local path (which must be inside the allocation's directory,
   as Nomad's artifact sandbox allows), or a shallow ``git`` clone
   (:mod:`gitorch.agent.artifacts_getters`), within :class:`Limits`.
3. A downloaded file is checked against ``options.checksum`` before anything else.
4. An archive (tar.gz, tgz, tar.bz2, tar.xz, tar, zip; told by the URL's path or by
   ``options.archive``) is unpacked unless ``mode = "file"``; nothing it holds may land
   outside the destination (:mod:`gitorch.agent.artifacts_unpack`).
5. The result is moved to the destination (default ``local/``), which must be inside
   the task dir: with ``mode = "file"`` the destination is the file's path; otherwise
   it is a directory that receives the file (under the URL's base name) or the
   unpacked tree.

A failure raises :class:`ArtifactFailed` naming the task, the source (without user,
password or query values) and the reason. A fetch that could work on a later try (a
404, a timeout, a checksum mismatch) is ``recoverable``: the task runner reports it as
a ``Failed Artifact Download`` event and the restart policy retries the start.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from urllib.parse import unquote, urlsplit

from gitorch.agent.artifacts_getters import FetchFailed, Limits, copy_local, download, git_clone
from gitorch.agent.artifacts_unpack import check_links, inside, place, unpack, verify_checksum
from gitorch.agent.taskenv import TaskEnv, node_values
from gitorch.core.artifact import (
    ArtifactError,
    Source,
    archive_type,
    check_destination,
    parse_checksum,
    parse_source,
    redact,
)
from gitorch.core.model import Node
from gitorch.core.model.job import TaskArtifact
from gitorch.core.task import TaskConfig
from gitorch.errors import DriverError

DEFAULT_LIMITS = Limits()


class ArtifactFailed(DriverError):
    """An artifact could not be fetched; ``recoverable`` when a later try may succeed."""

    def __init__(self, message: str, *, recoverable: bool) -> None:
        super().__init__(message)
        self.recoverable = recoverable


def fetch_artifacts(
    cfg: TaskConfig, artifacts: list[TaskArtifact], node: Node, limits: Limits = DEFAULT_LIMITS
) -> None:
    """Fetch every artifact of the task into ``cfg.task_dir``, in order."""
    if not artifacts:
        return
    env = TaskEnv(env=cfg.env, node_values=node_values(node))
    for artifact in artifacts:
        fetch_one(cfg, artifact, env, limits)


def fetch_one(cfg: TaskConfig, artifact: TaskArtifact, env: TaskEnv, limits: Limits) -> None:
    source = env.replace(artifact.getter_source)
    shown = redact(source)
    what = f"artifact {shown!r}"
    try:
        options = {k: env.replace(v) for k, v in artifact.getter_options.items()}
        found = parse_source(source, options)
        dest_rel = check_destination(env.replace(artifact.relative_dest))
        checksum = parse_checksum(options["checksum"]) if "checksum" in options else None
    except ArtifactError as exc:
        msg = f"task {cfg.id}: {what}: {exc}; fix the job's artifact block"
        raise ArtifactFailed(msg, recoverable=False) from None
    headers = {k: env.replace(v) for k, v in artifact.getter_headers.items()}
    staging = tempfile.mkdtemp(prefix=".artifact-", dir=cfg.task_dir)
    try:
        dest = inside(cfg.task_dir, dest_rel)
        _fetch(cfg, found, artifact, dest, staging, headers, checksum, limits)
    except FetchFailed as exc:
        reason = str(exc).replace(found.url, shown)
        msg = f"task {cfg.id}: failed to download {what}: {reason}"
        raise ArtifactFailed(msg, recoverable=True) from None
    except OSError as exc:
        reason = f"{exc.strerror or exc}"
        msg = f"task {cfg.id}: failed to place {what} in the task dir: {reason}"
        raise ArtifactFailed(msg, recoverable=True) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch(
    cfg: TaskConfig,
    found: Source,
    artifact: TaskArtifact,
    dest: str,
    staging: str,
    headers: dict[str, str],
    checksum: tuple[str, str] | None,
    limits: Limits,
) -> None:
    mode = artifact.getter_mode
    tree = os.path.join(staging, "tree")
    if found.getter == "git":
        if mode == "file":
            raise FetchFailed('a git:: source is a directory; drop mode = "file"')
        if found.url.startswith(("file://", "/")):  # a local repository: as a local path
            _local_path(cfg, found.url.removeprefix("file://"), limits)
        depth = int(found.options.get("depth", "1"))
        git_clone(found.url, tree, found.options.get("ref", ""), depth, limits)
        _place_tree(tree, found.subdir, dest)
        return
    fetched = os.path.join(staging, "download")
    if found.getter == "http":
        download(found.url, fetched, headers, limits, insecure=artifact.getter_insecure)
        name = posixpath.basename(unquote(urlsplit(found.url).path)) or "index.html"
    else:
        path = _local_path(cfg, found.url, limits)
        name = os.path.basename(path.rstrip("/"))
        if copy_local(path, fetched, limits):
            if mode == "file" or checksum is not None:
                raise FetchFailed('it is a directory: drop mode = "file" and the checksum')
            _place_tree(fetched, found.subdir, dest)
            return
    if checksum is not None:
        verify_checksum(fetched, *checksum)
    kind = archive_type(found.url, found.options)
    if mode == "file":
        is_dir = os.path.isdir(dest) and not os.path.islink(dest)
        place(fetched, os.path.join(dest, name) if is_dir else dest)
    elif kind:
        unpack(fetched, kind, tree, limits)
        _place_tree(tree, found.subdir, dest)
    elif mode == "dir":
        raise FetchFailed('mode = "dir" needs an archive or a directory; this is a file')
    else:
        os.makedirs(dest, exist_ok=True)
        place(fetched, os.path.join(dest, name))


def _place_tree(tree: str, subdir: str, dest: str) -> None:
    check_links(tree)
    root = inside(tree, subdir) if subdir else tree
    if not os.path.isdir(root):
        raise FetchFailed(f"it has no directory {subdir!r}")
    os.makedirs(dest, exist_ok=True)
    place(root, dest)


def _local_path(cfg: TaskConfig, path: str, limits: Limits) -> str:
    """A local source, relative to the task dir; it must be inside the allocation's
    directory (or one of ``limits.local_roots``)."""
    alloc_root = os.path.dirname(os.path.realpath(cfg.task_dir))
    real = os.path.realpath(os.path.join(cfg.task_dir, path))
    for root in (alloc_root, *limits.local_roots):
        root = os.path.realpath(root)
        if os.path.commonpath([root, real]) == root:
            return real
    raise FetchFailed(
        "a local source must be inside the allocation's directory; serve the file over "
        "http(s) or put it in the task dir first"
    )
