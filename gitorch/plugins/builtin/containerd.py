"""The containerd driver: each task is a container of a containerd daemon, driven
through its ``ctr`` client (``containerd_ctr``), in the shape of Nomad's community
containerd driver (task and plugin options in ``containerd_config``).

A task's container is ``<task>-<alloc id>`` in the driver's containerd namespace
(``nomad`` unless the plugin config says otherwise), labelled with the alloc ID and
task name; the handle records the container ID, so a new agent ``recover``s it. The
alloc dir is bound at ``/alloc``, the task's ``local/`` and ``secrets/`` at ``/local``
and ``/secrets``. Output goes straight from the shim's logging process to the task's
log files, so it keeps flowing while no agent runs. Exits are learnt from containerd's
event stream (``containerd_tasks``). ``destroy`` removes the container and its
snapshot; images stay.

A task killed by signal N reads as exit code 128 + N. As in any container, the task's
first process is PID 1 of its PID namespace: a signal it has no handler for does not
end it (run an init such as tini, or trap the signal).

The fingerprint asks the daemon for its version (``ctr version`` is a round trip):
a missing ``ctr`` is undetected; a socket that does not answer is unhealthy, with ctr's
reason.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, ParamSpec, TypeVar

import msgspec

from gitorch.core.task import (
    DriverFingerprint,
    ExecCommand,
    ExitResult,
    FSIsolation,
    TaskConfig,
    TaskHandle,
    TaskStats,
    TaskStatus,
)
from gitorch.errors import DriverError
from gitorch.plugins.builtin import containerd_config as cc
from gitorch.plugins.builtin.containerd_ctr import Ctr, CtrError, NotFound, log_uri
from gitorch.plugins.builtin.containerd_tasks import ExitWatcher, Watched, exit_result
from gitorch.plugins.builtin.process import signal_number
from gitorch.plugins.driver import Driver, Field

PROBE_TIMEOUT_S = 5.0
KILL_WAIT_S = 10.0
POLL_S = 2.0
POLL_MAX_S = 30.0
P = ParamSpec("P")
R = TypeVar("R")
_exec_ids = itertools.count(1)


def _reported(method: Callable[P, R]) -> Callable[P, R]:
    """ctr failures as DriverError naming the task."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except CtrError as exc:
            subject = getattr(args[1], "id", "?") if len(args) > 1 else "?"
            raise DriverError(f"task {subject}: containerd: {exc}") from exc

    return wrapper


class ContainerdDriver(Driver):
    name: ClassVar[str] = "containerd"
    fs_isolation: ClassVar[FSIsolation] = "image"
    config_schema: ClassVar[Mapping[str, Field]] = cc.TASK_SCHEMA
    plugin_config_schema: ClassVar[Mapping[str, Field]] = cc.PLUGIN_SCHEMA

    def __init__(self, plugin_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(plugin_config)
        self.settings = cc.Settings.parse(self.plugin_config)
        binary = shutil.which("ctr")
        self._binary = binary
        self.ctr = Ctr(binary or "ctr", self.settings.address, self.settings.namespace)
        self._watched: dict[str, Watched] = {}
        self._lock = threading.Lock()
        self._events = ExitWatcher(self.ctr, self._watched.get, self._all_watched)

    @classmethod
    def schema_problems(cls, config: Mapping[str, Any]) -> list[str]:
        return cc.task_problems(config, None)

    def validate_config(self, config: Mapping[str, Any]) -> list[str]:
        return cc.task_problems(config, self.settings)

    def _all_watched(self) -> list[Watched]:
        with self._lock:
            return list(self._watched.values())

    def fingerprint(self) -> DriverFingerprint:
        if not self.settings.enabled:
            return DriverFingerprint(health="undetected", health_description="disabled")
        if self._binary is None:
            return DriverFingerprint(
                health="undetected",
                health_description="containerd's ctr not found on PATH: apt-get install containerd",
            )
        try:
            version = self.ctr.server_version(PROBE_TIMEOUT_S)
        except CtrError as exc:
            return DriverFingerprint(
                health="unhealthy",
                health_description=f"containerd at {self.settings.address} does not answer: {exc}",
            )
        return DriverFingerprint(
            health="healthy",
            health_description="Healthy",
            attributes={
                "driver.containerd": "1",
                "driver.containerd.containerd_version": version,
                "driver.containerd.runtime": self.settings.runtime,
                "driver.containerd.namespace": self.settings.namespace,
            },
        )

    # -- lifecycle -------------------------------------------------------------------

    @_reported
    def start(self, cfg: TaskConfig) -> TaskHandle:
        self.check_config(cfg)
        image = cc.normalize_image(str(cfg.config["image"]))
        if not self.ctr.has_image(image):
            try:
                self.ctr.pull(image, self.settings.pull_timeout_s)
            except CtrError as exc:
                raise DriverError(f"task {cfg.id}: cannot pull image {image!r}: {exc}") from exc
        cid = cc.container_id(cfg)
        self._remove_stale(cfg, cid)
        for path in (cfg.stdout_path(), cfg.stderr_path()):
            with open(path, "ab"):
                pass
        self._events.ensure()
        watched = Watched(cid)
        with self._lock:
            self._watched[cid] = watched
        flags = [
            *cc.run_flags(cfg, self.settings),
            "--log-uri",
            log_uri(cfg.stdout_path(), cfg.stderr_path()),
        ]
        try:
            self.ctr.run_detached(flags, image, cid, cc.process_argv(cfg.config))
        except CtrError as exc:
            with self._lock:
                self._watched.pop(cid, None)
            self._remove(cid)
            raise DriverError(f"task {cfg.id}: cannot start image {image!r}: {exc}") from exc
        watched.started.set()
        state = self.ctr.tasks().get(cid)
        return TaskHandle(
            driver=self.name,
            alloc_id=cfg.alloc_id,
            task_name=cfg.task_name,
            pid=state.pid if state else 0,
            started_at_ns=time.time_ns(),
            state={"container_id": cid, "image": image, "namespace": self.settings.namespace},
        )

    def _remove_stale(self, cfg: TaskConfig, cid: str) -> None:
        """A container of an earlier run of this task holds the ID: remove it when it
        is ours and no longer runs (Nomad's drivers do the same)."""
        try:
            labels = self.ctr.container_labels(cid)
        except NotFound:
            return
        state = self.ctr.tasks().get(cid)
        if labels.get(cc.ALLOC_LABEL) != cfg.alloc_id or (state and state.status == "RUNNING"):
            raise DriverError(
                f"task {cfg.id}: container {cid} exists and is not a stopped one of this task"
            )
        self._remove(cid)

    def _remove(self, cid: str) -> None:
        for call in (
            lambda: self.ctr.delete_task(cid, force=True),
            lambda: self.ctr.remove_container(cid),
        ):
            try:
                call()
            except CtrError:
                pass

    def _task(self, handle: TaskHandle) -> Watched:
        cid = handle.state.get("container_id")
        if not isinstance(cid, str) or not cid:
            raise DriverError(f"task {handle.id}: handle names no container")
        with self._lock:
            watched = self._watched.get(cid)
        if watched is None:
            if not self.recover(handle):
                raise DriverError(f"task {handle.id}: container {cid} no longer exists")
            with self._lock:
                watched = self._watched[cid]
        return watched

    @_reported
    def recover(self, handle: TaskHandle) -> bool:
        cid = handle.state.get("container_id")
        if handle.driver != self.name or not isinstance(cid, str) or not cid:
            return False
        with self._lock:
            if cid in self._watched:
                return True
        try:
            labels = self.ctr.container_labels(cid)
        except NotFound:
            return False
        if labels.get(cc.ALLOC_LABEL) != handle.alloc_id or (
            labels.get(cc.TASK_LABEL) != handle.task_name
        ):
            return False
        self._events.ensure()
        watched = Watched(cid)
        watched.started.set()
        code = labels.get(cc.EXIT_LABEL, "")
        if code.isdigit():
            watched.result = exit_result(int(code))
            watched.done.set()
        with self._lock:
            watched = self._watched.setdefault(cid, watched)
        if not watched.done.is_set():
            state = self.ctr.tasks().get(cid)
            if state is None or state.status == "STOPPED":
                watched.collect(self.ctr)
        return True

    @_reported
    def wait(self, handle: TaskHandle, timeout: float | None = None) -> ExitResult | None:
        watched = self._task(handle)
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = POLL_S
        while True:
            left = interval if deadline is None else min(interval, deadline - time.monotonic())
            if watched.done.wait(max(0.0, left)):
                return watched.result
            if deadline is not None and time.monotonic() >= deadline:
                return None
            # Not told by the event stream: ask, in case an exit came before the stream
            # was subscribed (then less and less often: the stream is what tells).
            interval = min(interval * 2, POLL_MAX_S)
            state = self.ctr.tasks().get(watched.cid)
            if state is None or state.status == "STOPPED":
                watched.collect(self.ctr)

    @_reported
    def stop(self, handle: TaskHandle, signal: str, timeout: float) -> None:
        signum = _signum(handle, signal)
        try:
            watched = self._task(handle)
        except DriverError:
            return
        if watched.done.is_set():
            return
        self._kill(watched, signum)
        if self.wait(handle, timeout) is not None:
            return
        self._kill(watched, 9)
        if self.wait(handle, KILL_WAIT_S) is None:
            raise DriverError(f"task {handle.id}: still running {KILL_WAIT_S}s after SIGKILL")

    def _kill(self, watched: Watched, signum: int) -> bool:
        try:
            self.ctr.kill(watched.cid, signum)
        except CtrError:
            return False
        return True

    @_reported
    def signal(self, handle: TaskHandle, sig: str) -> None:
        signum = _signum(handle, sig)
        watched = self._task(handle)
        if watched.done.is_set() or not self._kill(watched, signum):
            raise DriverError(f"task {handle.id}: cannot deliver {sig}: task is not running")

    @_reported
    def destroy(self, handle: TaskHandle, force: bool = False) -> None:
        try:
            watched = self._task(handle)
        except DriverError:
            return
        if not watched.done.is_set():
            state = self.ctr.tasks().get(watched.cid)
            if state is not None and state.status == "RUNNING":
                if not force:
                    raise DriverError(
                        f"task {handle.id} is still running: stop it first or destroy with force"
                    )
                self._kill(watched, 9)
            self.wait(handle, KILL_WAIT_S)
        with self._lock:
            self._watched.pop(watched.cid, None)
        self._remove(watched.cid)

    def close(self) -> None:
        """Stop following events, as an exiting agent does; the tasks keep running."""
        self._events.close()

    # -- observation -----------------------------------------------------------------

    @_reported
    def inspect(self, handle: TaskHandle) -> TaskStatus:
        watched = self._task(handle)
        state = None if watched.done.is_set() else self.ctr.tasks().get(watched.cid)
        if not watched.done.is_set() and (state is None or state.status == "STOPPED"):
            watched.collect(self.ctr)
        exited = watched.done.is_set()
        return TaskStatus(
            alloc_id=handle.alloc_id,
            task_name=handle.task_name,
            driver=self.name,
            state="exited" if exited else "running",
            pid=state.pid if state else handle.pid,
            started_at_ns=handle.started_at_ns,
            exit_result=watched.result if exited else None,
            attributes={"container_id": watched.cid, "image": str(handle.state.get("image", ""))},
        )

    @_reported
    def stats(self, handle: TaskHandle) -> TaskStats:
        watched = self._task(handle)
        sample = _stats(self.ctr.metrics(watched.cid))
        used = sample.cpu_user_s + sample.cpu_system_s
        percent = 0.0
        if watched.last_cpu is not None:
            before_ns, before_used = watched.last_cpu
            elapsed = (sample.timestamp_ns - before_ns) / 1e9
            percent = max(0.0, (used - before_used) / elapsed * 100) if elapsed > 0 else 0.0
        watched.last_cpu = (sample.timestamp_ns, used)
        return msgspec.structs.replace(sample, cpu_percent=percent)

    @_reported
    def exec(self, handle: TaskHandle, cmd: Sequence[str], timeout: float) -> tuple[bytes, int]:
        if not cmd:
            raise DriverError(f"task {handle.id}: exec needs a command")
        watched = self._task(handle)
        if watched.done.is_set():
            raise DriverError(f"task {handle.id}: cannot exec {cmd[0]!r}: task is not running")
        exec_id = f"exec-{os.getpid()}-{next(_exec_ids)}"
        return self.ctr.exec(watched.cid, exec_id, list(cmd), timeout)


    @_reported
    def exec_command(self, handle: TaskHandle, cmd: Sequence[str], tty: bool) -> ExecCommand:
        """``ctr tasks exec [--tty]`` into the task's container."""
        if not cmd:
            raise DriverError(f"task {handle.id}: exec needs a command")
        watched = self._task(handle)
        if watched.done.is_set():
            raise DriverError(f"task {handle.id}: cannot exec {cmd[0]!r}: task is not running")
        exec_id = f"exec-{os.getpid()}-{next(_exec_ids)}"
        flags = ["--tty"] if tty else []
        argv = self.ctr.argv("tasks", "exec", *flags, "--exec-id", exec_id, watched.cid, *cmd)
        return ExecCommand(argv=argv)

def _stats(metrics: Mapping[str, Any]) -> TaskStats:
    """TaskStats from ``ctr tasks metrics`` (cgroup v1 or v2 shapes)."""
    cpu = metrics.get("cpu") or {}
    memory = metrics.get("memory") or {}
    usage = cpu.get("usage") or {}
    if "usage_usec" in cpu:  # cgroup v2
        user_s = float(cpu.get("user_usec", 0)) / 1e6
        system_s = float(cpu.get("system_usec", 0)) / 1e6
        rss = int(memory.get("anon", 0))
        used = int(memory.get("usage", 0))
    else:
        total_s = float(usage.get("total", 0)) / 1e9
        system_s = float(usage.get("kernel", 0)) / 1e9
        user_s = float(usage.get("user", 0)) / 1e9 or max(0.0, total_s - system_s)
        rss = int(memory.get("total_rss", memory.get("rss", 0)))
        used = int((memory.get("usage") or {}).get("usage", 0))
    return TaskStats(
        timestamp_ns=time.time_ns(),
        cpu_user_s=user_s,
        cpu_system_s=system_s,
        memory_rss_bytes=rss,
        memory_usage_bytes=used,
    )


def _signum(handle: TaskHandle, sig: str) -> int:
    try:
        return signal_number(sig)
    except ValueError as exc:
        raise DriverError(f"task {handle.id}: {exc}") from None
