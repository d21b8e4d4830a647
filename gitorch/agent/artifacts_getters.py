"""The three ways an artifact reaches the client: an HTTP(S) download, a copy of a
local path, a shallow ``git`` clone. Each writes into a staging path the fetcher gives
it and stays within the size limit; a failure is a :class:`FetchFailed` whose message
says what went wrong, without the URL (the fetcher names it, redacted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

GIB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """How much one artifact may be. Nomad's client ``artifact`` block has the same
    knobs (``http_max_size``, ``decompression_*``, ``http_read_timeout``,
    ``git_timeout``); gitorch's defaults are smaller."""

    max_bytes: int = GIB  # a download, a copied file or a clone
    max_unpacked_bytes: int = 4 * GIB  # the files an archive holds, together
    max_files: int = 4096  # the entries an archive holds
    read_timeout_s: float = 60.0  # between two reads of an HTTP body
    total_timeout_s: float = 30 * 60.0  # a whole download or clone
    max_redirects: int = 10
    local_roots: tuple[str, ...] = ()  # local sources allowed beside the alloc dir


class FetchFailed(Exception):
    """An artifact could not be fetched; the message is the reason."""


def _too_big(size: int, limits: Limits) -> FetchFailed:
    return FetchFailed(
        f"it is larger than the limit of {limits.max_bytes} bytes ({size} bytes or more); "
        "serve a smaller file or raise the client's artifact limit"
    )


def download(
    url: str, dest: str, headers: Mapping[str, str], limits: Limits, *, insecure: bool = False
) -> None:
    """GET ``url`` into the file ``dest``."""
    deadline = time.monotonic() + limits.total_timeout_s
    timeout = httpx.Timeout(limits.read_timeout_s, connect=min(30.0, limits.read_timeout_s))
    try:
        with (
            httpx.Client(
                follow_redirects=True,
                max_redirects=limits.max_redirects,
                timeout=timeout,
                verify=not insecure,
                trust_env=True,
            ) as client,
            client.stream("GET", url, headers=dict(headers)) as resp,
        ):
            if resp.status_code >= 400:
                raise FetchFailed(
                    f"the server answered HTTP {resp.status_code} {resp.reason_phrase}; "
                    "check the URL (and the headers, for a 401 or 403)"
                )
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limits.max_bytes:
                raise _too_big(int(declared), limits)
            written = 0
            with open(dest, "wb") as out:
                for chunk in resp.iter_bytes(1 << 16):
                    written += len(chunk)
                    if written > limits.max_bytes:
                        raise _too_big(written, limits)
                    if time.monotonic() > deadline:
                        raise FetchFailed(
                            f"the download took longer than {limits.total_timeout_s:.0f}s"
                        )
                    out.write(chunk)
    except httpx.TimeoutException as exc:
        raise FetchFailed(
            f"timed out ({type(exc).__name__}); check that this client can reach the host"
        ) from None
    except httpx.TooManyRedirects:
        raise FetchFailed(f"more than {limits.max_redirects} redirects") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(
            f"{type(exc).__name__}: {exc}; check that this client can reach the host"
        ) from None


def copy_local(path: str, dest: str, limits: Limits) -> bool:
    """Copy the file or directory ``path`` to ``dest``; True when it is a directory.
    Symbolic links inside a copied directory are copied as links (the unpacker's
    checks refuse those that point out of the task dir)."""
    try:
        if os.path.isdir(path):
            _check_tree_size(path, limits)
            shutil.copytree(path, dest, symlinks=True)
            return True
        size = os.path.getsize(path)
        if size > limits.max_bytes:
            raise _too_big(size, limits)
        shutil.copyfile(path, dest)
        return False
    except FileNotFoundError:
        raise FetchFailed("no such file or directory") from None
    except OSError as exc:
        raise FetchFailed(exc.strerror or str(exc)) from None


def _check_tree_size(root: str, limits: Limits) -> None:
    total = 0
    for base, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                continue
            if total > limits.max_bytes:
                raise _too_big(total, limits)


# Transports git may use: not ext:: (it runs commands) nor any other helper.
_GIT_PROTOCOLS = "https:http:ssh:git:file"


def git_clone(url: str, dest: str, ref: str, depth: int, limits: Limits) -> None:
    """A ``depth``-commit clone of ``url`` at ``ref`` (the remote's HEAD when empty)."""
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": _GIT_PROTOCOLS,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    git = shutil.which("git")
    if git is None:
        raise FetchFailed("git is not installed on this client")
    steps = [
        [git, "init", "-q", dest],
        [git, "-C", dest, "remote", "add", "origin", "--", url],
        [git, "-C", dest, "fetch", "-q", f"--depth={depth}", "origin", ref or "HEAD"],
        [git, "-C", dest, "checkout", "-q", "FETCH_HEAD"],
    ]
    deadline = time.monotonic() + limits.total_timeout_s
    for argv in steps:
        left = deadline - time.monotonic()
        try:
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=max(left, 1), check=False
            )
        except subprocess.TimeoutExpired:
            raise FetchFailed(f"git took longer than {limits.total_timeout_s:.0f}s") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise FetchFailed(f"git {argv[3] if argv[1] == '-C' else argv[1]} failed: {last}")
    _check_tree_size(dest, limits)
