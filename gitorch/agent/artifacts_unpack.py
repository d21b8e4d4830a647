"""Checking and placing what was fetched: the checksum, the archive's members, and the
move into the destination, none of which may write outside the directory it is given.

* A tar member with an absolute name, a ``..`` that leaves the destination, a link
  whose target leaves it, or a device node is refused (Python's ``data`` extraction
  filter, applied member by member as each is written).
* A zip member with an absolute name or a ``..`` is refused.
* Archives over the file-count or unpacked-size limit are refused before any member is
  written.
* Moving into the destination replaces files and merges directories, and never follows
  a symbolic link that is already there.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
import zipfile

from gitorch.agent.artifacts_getters import FetchFailed, Limits


def verify_checksum(path: str, kind: str, want: str) -> None:
    """Refuse the file at ``path`` unless its ``kind`` digest is ``want``."""
    digest = hashlib.new(kind)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    got = digest.hexdigest()
    if got != want:
        raise FetchFailed(
            f"checksum mismatch: expected {kind}:{want}, got {kind}:{got}; "
            "the file changed at its source or the checksum in the job is wrong"
        )


def unpack(archive: str, kind: str, dest: str, limits: Limits) -> None:
    """Unpack ``archive`` (``kind``: zip or a tar flavour) into the directory ``dest``."""
    os.makedirs(dest, exist_ok=True)
    try:
        if kind == "zip":
            _unzip(archive, dest, limits)
        else:
            _untar(archive, dest, limits)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise FetchFailed(f"cannot unpack it as {kind}: {exc}") from None


def _check_totals(count: int, size: int, limits: Limits) -> None:
    if count > limits.max_files:
        raise FetchFailed(
            f"the archive holds more than {limits.max_files} entries ({count}); "
            "pack fewer files or raise the client's artifact limit"
        )
    if size > limits.max_unpacked_bytes:
        raise FetchFailed(
            f"the archive unpacks to {size} bytes, over the limit of "
            f"{limits.max_unpacked_bytes}; pack less or raise the client's artifact limit"
        )


def _untar(archive: str, dest: str, limits: Limits) -> None:
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        _check_totals(len(members), sum(m.size for m in members if m.isfile()), limits)
        for member in members:
            try:
                tar.extract(member, dest, filter="data")
            except tarfile.FilterError as exc:
                raise FetchFailed(f"refused archive member {member.name!r}: {exc}") from None


def _unzip(archive: str, dest: str, limits: Limits) -> None:
    root = os.path.realpath(dest)
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        _check_totals(len(infos), sum(i.file_size for i in infos), limits)
        for info in infos:
            name = info.filename.replace("\\", "/")
            parts = name.split("/")
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                raise FetchFailed(
                    f"refused archive member {info.filename!r}: it would be written "
                    "outside the destination"
                )
            target = os.path.realpath(os.path.join(root, posixpath.normpath(name)))
            if os.path.commonpath([root, target]) != root:
                raise FetchFailed(
                    f"refused archive member {info.filename!r}: a symbolic link in the "
                    "destination leads outside it"
                )
            zf.extract(info, root)


def check_links(root: str) -> None:
    """Refuse a tree (a copied directory, a clone) holding a symbolic link that points
    outside ``root``."""
    real = os.path.realpath(root)
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            if not os.path.islink(path):
                continue
            target = os.path.realpath(path)
            if os.path.commonpath([real, target]) != real:
                rel = os.path.relpath(path, root)
                raise FetchFailed(
                    f"refused symbolic link {rel!r}: it points outside the destination "
                    f"({os.readlink(path)!r})"
                )


def place(src: str, dest: str) -> None:
    """Move ``src`` (a file or directory) to ``dest``: a file replaces what is there; a
    directory is merged into a directory there, entry by entry. Existing symbolic links
    are replaced, never followed."""
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(src, dest)
        return
    src_is_dir = os.path.isdir(src) and not os.path.islink(src)
    if src_is_dir and stat.S_ISDIR(st.st_mode):
        for name in os.listdir(src):
            place(os.path.join(src, name), os.path.join(dest, name))
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(dest)
    else:
        os.unlink(dest)
    os.replace(src, dest)


def inside(root: str, rel: str) -> str:
    """``root``/``rel`` with symbolic links resolved, refused when that is not inside
    ``root`` (a link already in the task dir cannot redirect the artifact)."""
    real_root = os.path.realpath(root)
    path = os.path.realpath(os.path.join(real_root, rel))
    if os.path.commonpath([real_root, path]) != real_root:
        raise FetchFailed(f"{rel!r} leads outside the task dir through a symbolic link")
    return path
