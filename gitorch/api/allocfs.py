"""An allocation's directory as the /v1/client/fs routes see it: every path is
resolved (``..`` and symlinks) and must stay inside the allocation dir, and what the
task keeps private is never read (Nomad's AllocDir.List/Stat/ReadAt rules).

Layout (``gitorch.core.task``): ``alloc/`` shared by the tasks, ``<task>/local``,
``<task>/secrets``, ``<task>/tmp``, and the drivers' own ``.<task>.gitorch`` dirs.
Listing and reading a ``secrets`` dir, or a driver's dir, is refused (403); a path
that resolves outside the allocation dir is a 400. A file is opened first and then
checked by the path its descriptor really has, so a symlink swapped in between the
check and the open does not lead out.
"""

from __future__ import annotations

import os
import stat as st
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from gitorch.core.model.base import Model
from gitorch.errors import BadRequestError, NotFoundError, PermissionDeniedError

SNIFF_BYTES = 512


class AllocFileInfo(Model, frozen=True, kw_only=True):
    """Nomad's AllocFileInfo (``ModTime`` as RFC 3339 with nanoseconds, in UTC)."""

    name: str
    is_dir: bool
    size: int
    file_mode: str
    mod_time: str
    content_type: str = ""


@dataclass(frozen=True)
class AllocFs:
    alloc_id: str
    root: Path
    tasks: tuple[str, ...]

    @classmethod
    def of(cls, alloc_id: str, root: Path, tasks: list[str]) -> AllocFs:
        return cls(alloc_id, Path(os.path.realpath(root)), tuple(tasks))

    # -- resolution ----------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        """The real path of ``path`` (relative to the allocation dir; a leading ``/``
        is the allocation dir), which must lie inside it."""
        if "\x00" in path:
            raise BadRequestError(f"path {path!r} holds a NUL byte")
        real = Path(os.path.realpath(self.root / path.lstrip("/")))
        if not self.inside(real):
            raise BadRequestError(
                f"path {path!r} escapes the directory of allocation {self.alloc_id} "
                "(through '..' or a symlink): only paths inside it can be read"
            )
        return real

    def inside(self, real: Path) -> bool:
        return real == self.root or self.root in real.parents

    def private_dirs(self) -> list[Path]:
        return [
            d
            for task in self.tasks
            for d in (self.root / task / "secrets", self.root / f".{task}.gitorch")
        ]

    def guard(self, real: Path, path: str, *, allow_self: bool = False) -> None:
        """Refuse a path at or under a task's ``secrets`` dir or a driver's own dir
        (``allow_self``: the dir itself may be named, as for stat)."""
        for private in self.private_dirs():
            if private in real.parents or (real == private and not allow_self):
                what = "secret" if private.name == "secrets" else "private"
                raise PermissionDeniedError(
                    f"reading {what} files of allocation {self.alloc_id} is prohibited: {path}"
                )

    # -- operations ----------------------------------------------------------------

    def listing(self, path: str) -> list[AllocFileInfo]:
        real = self.resolve(path or "/")
        self.guard(real, path)
        hidden = set(self.private_dirs()) - {self.root / t / "secrets" for t in self.tasks}
        try:
            entries = sorted(os.scandir(real), key=lambda e: e.name)
        except FileNotFoundError:
            raise NotFoundError(f"no such file or directory: {path}") from None
        except NotADirectoryError:
            raise BadRequestError(f"{path} is a file, not a directory: stat or cat it") from None
        out = []
        for entry in entries:
            if Path(entry.path) in hidden:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while listing
            out.append(_info(entry.name, info))
        return out

    def stat(self, path: str) -> AllocFileInfo:
        real = self.resolve(path)
        self.guard(real, path, allow_self=True)
        try:
            info = os.stat(real)
        except FileNotFoundError:
            raise NotFoundError(f"no such file or directory: {path}") from None
        ctype = "application/octet-stream"
        if st.S_ISREG(info.st_mode):
            with self.open(path) as f:
                ctype = content_type(path, f.read(SNIFF_BYTES))
        return _info(real.name if real != self.root else "/", info, ctype)

    def open(self, path: str) -> BinaryIO:
        """Open a regular file for reading, checked by the path its descriptor has."""
        real = self.resolve(path)
        self.guard(real, path)
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFoundError(f"no such file: {path}") from None
        except OSError as exc:
            raise BadRequestError(f"cannot open {path}: {exc.strerror}") from None
        try:
            opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
            if not self.inside(opened):
                raise BadRequestError(f"path {path!r} escapes the allocation directory")
            self.guard(opened, path)
            mode = os.fstat(fd).st_mode
            if st.S_ISDIR(mode):
                raise BadRequestError(f"file {path!r} is a directory: list it with fs ls")
            if not st.S_ISREG(mode):
                raise BadRequestError(f"file {path!r} is not a regular file")
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise


def content_type(path: str, head: bytes) -> str:
    """Nomad's sniff, simplified: JSON by name, UTF-8 text, else binary."""
    if path.endswith(".json"):
        return "application/json"
    if not head:
        return "text/plain; charset=utf-8"
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # a character cut at the sniff's end is fine
            return "application/octet-stream"
    return "text/plain; charset=utf-8"


def _info(name: str, info: os.stat_result, ctype: str = "") -> AllocFileInfo:
    return AllocFileInfo(
        name=name,
        is_dir=st.S_ISDIR(info.st_mode),
        size=info.st_size,
        file_mode=st.filemode(info.st_mode),
        mod_time=_rfc3339(info.st_mtime_ns),
        content_type=ctype,
    )


def _rfc3339(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"
