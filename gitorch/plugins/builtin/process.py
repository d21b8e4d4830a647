"""Detached, supervised task processes (shared by raw_exec and exec).

The process tree of one task::

    agent ──posix_spawn(setsid)──► sh wrapper W (own session; stdout/err = log files)
                                     │ writes $$ into the task's cgroup.procs files
                                     │ cd task_dir; runs the command in the foreground
                                     ▼
                                   setsid|bwrap ... ──► the task T (own session, pgid T)
                                     ...
                                   echo $? > exit file

* The wrapper is ``/bin/sh`` (no Python per task). It is the task's parent, so it learns
  the exit status and writes it to a file in a directory the task cannot see; the agent
  is not needed for that, so a task outlives ``kill -9`` of the agent and its exit code
  can be read by the next agent process.
* The task runs in its own session/process group, so signals from ``stop``/``signal``
  go to the task's group and never to the wrapper (or to bwrap's monitor), which keeps
  recording the real exit status: killed by signal N reads as 128+N (Nomad's
  executor encoding).
* The agent finds the task group by walking /proc children from the wrapper (only when
  signalling), waits with a pidfd (works for non-children after a restart), and checks
  the wrapper's start time so a reused PID is never mistaken for the task.
"""

from __future__ import annotations

import os
import select
import signal as signals
import time
from collections.abc import Mapping, Sequence

from gitorch.core.task import ExitResult

SH = "/bin/sh"

# $1 exit file, $2 working dir, then cgroup.procs files up to "--", then the command.
WRAPPER = """x=$1 d=$2
shift 2
while [ "$1" != -- ]; do
echo $$ >"$1" || { echo "gitorch: cannot join cgroup $1" >&2; echo 125 >"$x"; exit 125; }
shift
done
shift
cd "$d" || { echo 126 >"$x"; exit 126; }
"$@"
echo $? >"$x"
"""

_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND


def spawn(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str,
    exit_file: str,
    stdout: str,
    stderr: str,
    cgroup_procs: Sequence[str] = (),
) -> int:
    """Start ``command`` under the wrapper in a new session; the wrapper's PID."""
    argv = [SH, "-c", WRAPPER, "gitorch-task", exit_file, cwd, *cgroup_procs, "--", *command]
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout, _LOG_FLAGS, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, stderr, _LOG_FLAGS, 0o644),
    ]
    return os.posix_spawn(SH, argv, dict(env), file_actions=actions, setsid=True)


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from field 3 (state) on, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rfind(b")") + 2 :].decode().split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (identifies it across
    PID reuse), or None if there is no such process."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def is_same(pid: int, ticks: int) -> bool:
    """Whether ``pid`` is still the process that started at ``ticks`` (zombie included)."""
    return pid > 0 and start_ticks(pid) == ticks


def is_running(pid: int, ticks: int) -> bool:
    """Whether ``pid`` is the process that started at ``ticks`` and has not exited."""
    fields = _stat(pid) if pid > 0 else None
    return fields is not None and int(fields[19]) == ticks and fields[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
            return [int(p) for p in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def find_task_group(wrapper: int, depth: int = 4) -> int | None:
    """The first descendant of the wrapper that leads its own process group."""
    frontier = [wrapper]
    for _ in range(depth):
        below = []
        for parent in frontier:
            for child in children(parent):
                fields = _stat(child)
                if fields is not None and int(fields[2]) == child:
                    return child
                below.append(child)
        frontier = below
    return None


def wait_exit(pid: int, ticks: int, timeout: float | None) -> bool:
    """Wait until process ``pid`` (started at ``ticks``) has exited; False on timeout."""
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


def reap(pid: int, ticks: int) -> int | None:
    """Collect the wait status of our exited child ``pid``; None if it is not ours.
    The start-time check guards against reaping a different child reusing the PID."""
    if not is_same(pid, ticks):
        return None
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return status if got == pid else None


def read_exit_file(path: str) -> int | None:
    try:
        with open(path, "rb") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def exit_result(
    code: int | None, status: int | None, *, oom_killed: bool = False, what: str = "task"
) -> ExitResult:
    """The ExitResult from the wrapper's exit file (or, failing that, its wait status)."""
    if code is None and status is not None:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return ExitResult(exit_code=128 + sig, signal=sig, oom_killed=oom_killed)
        code = os.waitstatus_to_exitcode(status)
    if code is None:
        return ExitResult(
            exit_code=-1,
            oom_killed=oom_killed,
            err=f"{what} ended but its exit status was lost (its supervisor was killed)",
        )
    sig = code - 128 if 128 < code < 128 + signals.NSIG else 0
    return ExitResult(exit_code=code, signal=sig, oom_killed=oom_killed)


def signal_number(sig: str | int) -> int:
    """``"SIGTERM"``, ``"TERM"``, ``"term"``, ``"15"`` or 15 as a signal number."""
    if isinstance(sig, int):
        return int(signals.Signals(sig))
    text = sig.strip().upper()
    if text.isdigit():
        return int(signals.Signals(int(text)))
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise ValueError(f"unknown signal {sig!r}") from None


def send(pgid: int, signum: int) -> bool:
    """Signal a process group; False if it no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def signal_task(wrapper: int, ticks: int, signum: int, settle: float = 2.0) -> int | None:
    """Deliver ``signum`` to the task group below the wrapper; the group signalled.
    Right after a start the task may not have its own group yet: retry briefly, then
    signal the wrapper's children (returns 0). None when the wrapper has exited."""
    deadline = time.monotonic() + settle
    while is_running(wrapper, ticks):
        group = find_task_group(wrapper)
        if group is not None and send(group, signum):
            return group
        if time.monotonic() > deadline:
            for child in children(wrapper):
                try:
                    os.kill(child, signum)
                except ProcessLookupError:
                    pass
            return 0
        time.sleep(0.002)
    return None


def kill_tree(wrapper: int, ticks: int) -> int | None:
    """SIGKILL the task group, the wrapper's group and the wrapper (destroy --force);
    the task group found."""
    if not is_running(wrapper, ticks):
        return None
    group = find_task_group(wrapper)
    if group is not None:
        send(group, signals.SIGKILL)
    send(wrapper, signals.SIGKILL)
    return group
