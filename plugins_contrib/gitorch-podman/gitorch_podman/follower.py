"""The log follower: one detached ``podman logs --follow <container>`` per task.

The container logs through podman's ``k8s-file`` driver (conmon writes every line with
its stream). The follower is started in its own session with its stdout and stderr
opened (append) on the task's ``<task>.stdout.0`` / ``<task>.stderr.0``, so podman
itself splits the streams and keeps partial lines as they were. It does not depend on
the agent: after ``kill -9`` of the agent it keeps copying, and it exits by itself once
the container has stopped and its log is drained. That exit is how ``wait`` learns the
logs are complete; it is watched with a pidfd (which works for a process that is not
our child, after an agent restart), and the process's start time (clock ticks since
boot, from /proc) is kept beside its PID so a reused PID is never mistaken for it.
"""

from __future__ import annotations

import os
import select
import signal
from collections.abc import Sequence

_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND


def spawn(
    podman: str, container: str, stdout: str, stderr: str, since: str | None = None
) -> tuple[int, int]:
    """Start the follower; its (PID, start ticks)."""
    argv: list[str] = [podman, "logs", "--follow"]
    if since:
        argv += ["--since", since]
    argv.append(container)
    actions: Sequence[tuple[int, int, str, int, int]] = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout, _LOG_FLAGS, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, stderr, _LOG_FLAGS, 0o644),
    ]
    pid = os.posix_spawn(podman, argv, dict(os.environ), file_actions=actions, setsid=True)
    return pid, start_ticks(pid) or 0


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from the state field on, or None when there is no such PID."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].decode().split()


def start_ticks(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def alive(pid: int, ticks: int) -> bool:
    """Whether the follower (``pid`` started at ``ticks``) still runs (not a zombie)."""
    fields = _stat(pid)
    return fields is not None and int(fields[19]) == ticks and fields[0] not in ("Z", "X")


def wait_gone(pid: int, ticks: int, timeout: float | None) -> bool:
    """Wait up to ``timeout`` seconds for the follower to exit; True once it has."""
    if pid <= 0:
        return True
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if start_ticks(pid) != ticks:
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        ms = None if timeout is None else max(0, int(timeout * 1000))
        return bool(poller.poll(ms))
    finally:
        os.close(fd)


def reap(pid: int, ticks: int) -> None:
    """Collect the exit status if the follower is our child (no zombie left behind)."""
    if pid <= 0 or start_ticks(pid) != ticks:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill(pid: int, ticks: int) -> None:
    """SIGKILL the follower if it is still the process we started, then reap it."""
    if alive(pid, ticks):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_gone(pid, ticks, 2.0)
    reap(pid, ticks)
