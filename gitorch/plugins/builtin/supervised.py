"""The shared body of raw_exec and exec: tasks as local processes under the sh wrapper
of ``process`` (see there for the process tree and how exit codes survive restarts).

Subclasses say how to build the command (``_command``), may prepare resources before
the spawn (``_prepare``: cgroups) and free them on destroy (``_release``).
"""

from __future__ import annotations

import os
import shutil
import signal as signals
import subprocess
import threading
import time
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from gitorch.core.task import (
    ExecCommand,
    ExitResult,
    TaskConfig,
    TaskHandle,
    TaskStats,
    TaskStatus,
)
from gitorch.errors import DriverError
from gitorch.plugins.builtin import process
from gitorch.plugins.driver import Driver

KILL_WAIT_S = 5.0


def state_dir_for(cfg: TaskConfig) -> str:
    """The driver's private directory for a task: a sibling of the task dir, so that
    a chrooted task can neither see nor replace it."""
    task_dir = os.path.abspath(cfg.task_dir)
    parent, base = os.path.split(task_dir)
    return os.path.join(parent, f".{base}.gitorch")


def ensure_dir(path: str) -> None:
    """mkdir -p, in one syscall when the parent exists (the common case)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)


@dataclass
class _Task:
    handle: TaskHandle
    ticks: int
    exit_file: str
    state_dir: str
    task_dir: str
    env: dict[str, str]
    result: ExitResult | None = None
    last_cpu: tuple[float, float] | None = None
    group: int | None = None
    """The task's process group, once seen (to sweep what is left of it on destroy)."""

    def signal(self, signum: int, settle: float = 2.0) -> bool:
        """Signal the task group; False when the task is not running."""
        group = process.signal_task(self.handle.pid, self.ticks, signum, settle)
        if group:
            self.group = group
        return group is not None


def _from_handle(handle: TaskHandle) -> _Task:
    state = handle.state
    try:
        ticks, exit_file, state_dir = state["ticks"], state["exit_file"], state["state_dir"]
        task_dir, env = state["task_dir"], state["env"]
    except KeyError as exc:
        raise DriverError(f"task {handle.id}: handle lacks {exc.args[0]!r}") from None
    ok = isinstance(ticks, int) and isinstance(exit_file, str) and isinstance(state_dir, str)
    if not (ok and isinstance(task_dir, str) and isinstance(env, dict)):
        raise DriverError(f"task {handle.id}: malformed {handle.driver} handle")
    return _Task(handle, ticks, exit_file, state_dir, task_dir, env)


def resolve_on_path(cmd: str, env: dict[str, str], exists: Any) -> str | None:
    """Where ``cmd`` is found on the task's PATH (execvp's rule), via ``exists(path)``."""
    if "/" in cmd:
        return cmd if exists(cmd) else None
    for entry in env.get("PATH", os.defpath).split(":"):
        candidate = os.path.join(entry or ".", cmd)
        if exists(candidate):
            return candidate
    return None


def user_prefix(cfg: TaskConfig, setpriv: str | None) -> list[str]:
    """``setpriv`` arguments that run the command as ``cfg.user`` (empty: agent user)."""
    if not cfg.user:
        return []
    import pwd

    try:
        entry = pwd.getpwnam(cfg.user)
    except KeyError:
        raise DriverError(f"task {cfg.id}: user {cfg.user!r} does not exist") from None
    if setpriv is None:
        raise DriverError(f"task {cfg.id}: running as {cfg.user!r} needs setpriv (util-linux)")
    uid, gid = str(entry.pw_uid), str(entry.pw_gid)
    return [setpriv, "--reuid", uid, "--regid", gid, "--init-groups", "--"]


class SupervisedDriver(Driver):
    """A driver whose tasks run under the wrapper of ``process``."""

    def __init__(self, plugin_config: Any = None) -> None:
        super().__init__(plugin_config)
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()

    @abstractmethod
    def _command(self, cfg: TaskConfig) -> list[str]:
        """The argv the wrapper runs; raises DriverError naming a missing command."""

    def _prepare(self, cfg: TaskConfig) -> tuple[list[str], dict[str, Any]]:
        """Before the spawn: (cgroup.procs files to join, extra handle state)."""
        return [], {}

    def _release(self, state: dict[str, Any]) -> None:
        """Free what ``_prepare`` made (on destroy, or when the spawn fails)."""

    def _kill_all(self, handle: TaskHandle) -> None:
        """Kill every process left in the task's confinement (exec: the cgroup)."""

    def _oom_killed(self, handle: TaskHandle) -> bool:
        return False

    def _exec_argv(self, task: _Task, cmd: Sequence[str]) -> list[str]:
        return list(cmd)

    def _memory_usage(self, handle: TaskHandle) -> int | None:
        return None

    def _check_ready(self, cfg: TaskConfig) -> None:
        """Raise DriverError when the driver cannot start tasks at all."""

    # -- lifecycle -------------------------------------------------------------------

    def start(self, cfg: TaskConfig) -> TaskHandle:
        self._check_ready(cfg)
        self.check_config(cfg)
        command = self._command(cfg)
        state_dir = state_dir_for(cfg)
        exit_file = os.path.join(state_dir, "exit")
        try:
            ensure_dir(cfg.log_dir)
            ensure_dir(state_dir)
            if os.path.lexists(exit_file):
                os.unlink(exit_file)
        except OSError as exc:
            raise DriverError(f"task {cfg.id}: cannot prepare directories: {exc}") from exc
        procs, extra = self._prepare(cfg)
        try:
            pid = process.spawn(
                command,
                env=cfg.env,
                cwd=cfg.task_dir,
                exit_file=exit_file,
                stdout=cfg.stdout_path(),
                stderr=cfg.stderr_path(),
                cgroup_procs=procs,
            )
        except OSError as exc:
            self._release(extra)
            raise DriverError(f"task {cfg.id}: cannot start {command[0]!r}: {exc}") from exc
        ticks = process.start_ticks(pid) or 0
        state = {
            "ticks": ticks,
            "exit_file": exit_file,
            "state_dir": state_dir,
            "task_dir": cfg.task_dir,
            "env": dict(cfg.env),
            **extra,
        }
        handle = TaskHandle(
            driver=self.name,
            alloc_id=cfg.alloc_id,
            task_name=cfg.task_name,
            pid=pid,
            started_at_ns=time.time_ns(),
            state=state,
        )
        self._tasks[handle.id] = _Task(
            handle, ticks, exit_file, state_dir, cfg.task_dir, dict(cfg.env)
        )
        return handle

    def _task(self, handle: TaskHandle) -> _Task:
        task = self._tasks.get(handle.id)
        if task is None or task.handle.pid != handle.pid:
            task = _from_handle(handle)
            self._tasks[handle.id] = task
        return task

    def _collect(self, task: _Task) -> ExitResult:
        with self._lock:
            if task.result is None:
                status = process.reap(task.handle.pid, task.ticks)
                code = process.read_exit_file(task.exit_file)
                oom = self._oom_killed(task.handle)
                task.result = process.exit_result(
                    code, status, oom_killed=oom, what=f"task {task.handle.id}"
                )
            return task.result

    def _exited(self, task: _Task, timeout: float | None = 0) -> bool:
        if task.result is not None:
            return True
        if process.wait_exit(task.handle.pid, task.ticks, timeout):
            self._collect(task)
            return True
        return False

    def wait(self, handle: TaskHandle, timeout: float | None = None) -> ExitResult | None:
        task = self._task(handle)
        return task.result if self._exited(task, timeout) else None

    def stop(self, handle: TaskHandle, signal: str, timeout: float) -> None:
        task = self._task(handle)
        if self._exited(task):
            return
        signum = _signum(handle, signal)
        if task.signal(signum) and not self._exited(task, timeout):
            task.signal(signals.SIGKILL, settle=0.2)
            if not self._exited(task, 1.0):
                self._kill_all(handle)
            if not self._exited(task, KILL_WAIT_S):
                raise DriverError(f"task {handle.id}: still running {KILL_WAIT_S}s after SIGKILL")
        self._exited(task, KILL_WAIT_S)

    def signal(self, handle: TaskHandle, sig: str) -> None:
        task = self._task(handle)
        signum = _signum(handle, sig)
        if self._exited(task) or not task.signal(signum):
            raise DriverError(f"task {handle.id}: cannot deliver {sig}: task is not running")

    def destroy(self, handle: TaskHandle, force: bool = False) -> None:
        task = self._task(handle)
        if not self._exited(task):
            if not force:
                raise DriverError(
                    f"task {handle.id} is still running: stop it first or destroy with force"
                )
            task.group = process.kill_tree(handle.pid, task.ticks) or task.group
            self._kill_all(handle)
            if not self._exited(task, KILL_WAIT_S):
                raise DriverError(f"task {handle.id}: still running {KILL_WAIT_S}s after SIGKILL")
        if task.group and not os.path.exists(f"/proc/{task.group}"):
            # The leader is gone; what is left of its group is the task's (a reused PID
            # would show up in /proc), so sweep it.
            process.send(task.group, signals.SIGKILL)
        self._release(handle.state)
        shutil.rmtree(task.state_dir, ignore_errors=True)
        self._tasks.pop(handle.id, None)

    def recover(self, handle: TaskHandle) -> bool:
        if handle.driver != self.name:
            return False
        try:
            task = _from_handle(handle)
        except DriverError:
            return False
        if process.is_same(handle.pid, task.ticks) or os.path.exists(task.exit_file):
            self._tasks[handle.id] = task
            return True
        return False

    # -- observation -----------------------------------------------------------------

    def inspect(self, handle: TaskHandle) -> TaskStatus:
        task = self._task(handle)
        exited = self._exited(task)
        leader = None if exited else process.find_task_group(handle.pid)
        task.group = leader or task.group
        return TaskStatus(
            alloc_id=handle.alloc_id,
            task_name=handle.task_name,
            driver=self.name,
            state="exited" if exited else "running",
            pid=leader or handle.pid,
            started_at_ns=handle.started_at_ns,
            exit_result=task.result,
            attributes={"supervisor_pid": str(handle.pid)},
        )

    def stats(self, handle: TaskHandle) -> TaskStats:
        task = self._task(handle)
        now = time.time_ns()
        leader = None if self._exited(task) else process.find_task_group(handle.pid)
        procs: list[psutil.Process] = []
        if leader is not None:
            try:
                root = psutil.Process(leader)
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                procs = []
        user = system = 0.0
        rss = 0
        pids = []
        for proc in procs:
            try:
                with proc.oneshot():
                    times, mem = proc.cpu_times(), proc.memory_info()
            except psutil.Error:
                continue
            user, system, rss = user + times.user, system + times.system, rss + mem.rss
            pids.append(proc.pid)
        percent = 0.0
        if task.last_cpu is not None and now > task.last_cpu[0]:
            percent = 100.0 * (user + system - task.last_cpu[1]) / ((now - task.last_cpu[0]) / 1e9)
        task.last_cpu = (now, user + system)
        usage = self._memory_usage(handle)
        return TaskStats(
            timestamp_ns=now,
            cpu_user_s=user,
            cpu_system_s=system,
            cpu_percent=max(0.0, percent),
            memory_rss_bytes=rss,
            memory_usage_bytes=rss if usage is None else usage,
            pids=pids,
        )

    def exec(self, handle: TaskHandle, cmd: Sequence[str], timeout: float) -> tuple[bytes, int]:
        task = self._task(handle)
        if not cmd:
            raise DriverError(f"task {handle.id}: exec needs a command")
        if self._exited(task):
            raise DriverError(f"task {handle.id}: cannot exec {cmd[0]!r}: task is not running")
        argv = self._exec_argv(task, cmd)
        try:
            done = subprocess.run(
                argv,
                cwd=task.task_dir,
                env=task.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise DriverError(
                f"task {handle.id}: exec {cmd[0]!r} timed out after {timeout}s"
            ) from exc
        except OSError as exc:
            raise DriverError(f"task {handle.id}: cannot exec {cmd[0]!r}: {exc}") from exc
        return done.stdout, done.returncode


    def exec_command(self, handle: TaskHandle, cmd: Sequence[str], tty: bool) -> ExecCommand:
        """The task's confinement entered by ``_exec_argv`` (raw_exec: none), in its task
        dir with its environment."""
        task = self._task(handle)
        if not cmd:
            raise DriverError(f"task {handle.id}: exec needs a command")
        if self._exited(task):
            raise DriverError(f"task {handle.id}: cannot exec {cmd[0]!r}: task is not running")
        argv = self._exec_argv(task, cmd)
        return ExecCommand(argv=argv, cwd=task.task_dir, env=dict(task.env))

def _signum(handle: TaskHandle, sig: str) -> int:
    try:
        return process.signal_number(sig)
    except ValueError as exc:
        raise DriverError(f"task {handle.id}: {exc}") from None
