"""The podman task driver: each task is a container of the node's rootful podman,
driven through the ``podman`` command line (no socket service, no SDK).

``start`` checks the image is present (pulling it when allowed), runs ``podman create``
then ``podman start``, so a missing image or command is an error of ``start`` itself,
naming the task and the image or command. The container carries the labels
``com.gitorch.alloc_id``, ``com.gitorch.task_name`` and ``com.gitorch.job_name``;
``recover`` finds it again by container ID and checks those labels. Output goes to the
task's log files through a detached ``podman logs --follow`` (see ``follower``).

A container killed by signal N exits 128 + N (podman's convention, and gitorch's), so
``ExitResult.signal`` is N for such exit codes. ``stop`` sends ``kill_signal`` to PID 1
and SIGKILL after ``kill_timeout``: with no ``init = true`` the task's command *is*
PID 1, and the kernel drops a signal PID 1 has no handler for.
"""

from __future__ import annotations

import os
import secrets
import signal as signals
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from gitorch.core.task import (
    DriverFingerprint,
    ExitResult,
    FSIsolation,
    TaskConfig,
    TaskHandle,
    TaskStats,
    TaskStatus,
)
from gitorch.errors import DriverError
from gitorch.plugins.driver import Driver, Field

from gitorch_podman import follower, spec
from gitorch_podman.cli import Podman, PodmanError

KILL_WAIT_S = 10.0
FOLLOWER_CHECK_S = 5.0
"""A follower that has not exited after this long is checked against the container."""
DRAIN_GRACE_S = 2.0


def signal_number(handle: TaskHandle, sig: str | int) -> int:
    """``"SIGTERM"``, ``"TERM"``, ``"15"`` or 15 as a number; DriverError naming the task."""
    text = str(sig).strip().upper()
    try:
        if text.isdigit():
            return int(signals.Signals(int(text)))
        return int(signals.Signals[text if text.startswith("SIG") else f"SIG{text}"])
    except (KeyError, ValueError):
        raise DriverError(f"task {handle.id}: unknown signal {sig!r}") from None


def exit_result(state: Mapping[str, Any]) -> ExitResult:
    code = int(state.get("ExitCode") or 0)
    sig = code - 128 if 128 < code < 128 + signals.NSIG else 0
    error = str(state.get("Error") or "") or None
    return ExitResult(
        exit_code=code, signal=sig, oom_killed=bool(state.get("OOMKilled")), err=error
    )


def _container(handle: TaskHandle) -> str:
    cid = handle.state.get("container_id")
    if not isinstance(cid, str) or not cid:
        raise DriverError(f"task {handle.id}: the handle names no podman container")
    return cid


class PodmanDriver(Driver):
    name: ClassVar[str] = "podman"
    fs_isolation: ClassVar[FSIsolation] = "image"
    config_schema: ClassVar[Mapping[str, Field]] = spec.TASK_SCHEMA
    plugin_config_schema: ClassVar[Mapping[str, Field]] = spec.PLUGIN_SCHEMA

    def __init__(self, plugin_config: Mapping[str, Any] | None = None) -> None:
        super().__init__(plugin_config)
        self.settings = spec.Settings.parse(self.plugin_config)
        self.podman = Podman(self.settings.podman_path)
        self.ceilings = spec.host_ceilings()
        self._results: dict[str, ExitResult] = {}
        self._followers: dict[str, tuple[int, int]] = {}
        self._cpu: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def validate_config(self, config: Mapping[str, Any]) -> list[str]:
        return spec.task_problems(config, self.ceilings)

    def init_path(self) -> str:
        """The init binary for ``init = true`` ("" lets podman use its catatonit)."""
        if self.settings.init_path:
            return self.settings.init_path
        return next((p for p in spec.INIT_CANDIDATES if os.access(p, os.X_OK)), "")

    def fingerprint(self) -> DriverFingerprint:
        if self.podman.binary() is None:
            why = f"{self.settings.podman_path} not found on PATH (apt-get install podman)"
            return DriverFingerprint(health="undetected", health_description=why)
        if os.geteuid() != 0:
            why = "the podman driver drives rootful podman: run the agent as root"
            return DriverFingerprint(health="undetected", health_description=why)
        try:
            info = self.podman.info()
        except (PodmanError, ValueError) as exc:
            return DriverFingerprint(health="unhealthy", health_description=str(exc))
        host = info.get("host", {})
        runtime = host.get("ociRuntime", {})
        attributes = {
            "driver.podman": "1",
            "driver.podman.version": str(info.get("version", {}).get("Version", "")),
            "driver.podman.rootless": "1" if host.get("security", {}).get("rootless") else "0",
            "driver.podman.cgroup_version": str(host.get("cgroupVersion", "")),
            "driver.podman.runtime": str(runtime.get("name", "")),
            "driver.podman.init": self.init_path(),
        }
        for limit, value in self.ceilings.items():
            attributes[f"driver.podman.ulimit.{limit}"] = str(value)
        return DriverFingerprint(
            health="healthy", health_description="Healthy", attributes=attributes
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self, cfg: TaskConfig) -> TaskHandle:
        self.check_config(cfg)
        image: str = cfg.config["image"]
        self._ensure_image(cfg, image)
        name = spec.container_name(cfg, secrets.token_hex(4))
        try:
            args = spec.create_args(cfg, name, self.ceilings, self.init_path())
        except ValueError as exc:
            raise DriverError(f"task {cfg.id}: {exc}") from None
        for path in (cfg.log_dir, f"{cfg.task_dir}/local", f"{cfg.task_dir}/secrets"):
            os.makedirs(path, exist_ok=True)
        try:
            cid = self.podman.text(args).splitlines()[-1]
        except PodmanError as exc:
            raise DriverError(f"task {cfg.id}: cannot create a container of {image!r}: "
                              f"{exc.reason}") from exc  # fmt: skip
        try:
            self.podman.run(["start", cid])
        except PodmanError as exc:
            self.podman.remove(cid)
            raise DriverError(f"task {cfg.id}: cannot start a container of {image!r}: "
                              f"{exc.reason}") from exc  # fmt: skip
        binary = self.podman.binary() or self.settings.podman_path
        pid, ticks = follower.spawn(binary, cid, cfg.stdout_path(), cfg.stderr_path())
        self._followers[cid] = (pid, ticks)
        return TaskHandle(
            driver=self.name,
            alloc_id=cfg.alloc_id,
            task_name=cfg.task_name,
            started_at_ns=time.time_ns(),
            state={
                "container_id": cid,
                "container_name": name,
                "image": image,
                "follower_pid": pid,
                "follower_ticks": ticks,
                "stdout_path": cfg.stdout_path(),
                "stderr_path": cfg.stderr_path(),
            },
        )

    def _ensure_image(self, cfg: TaskConfig, image: str) -> None:
        force = cfg.config.get("force_pull") is True
        if not force and self.podman.image_exists(image):
            return
        try:
            self.podman.pull(image, self.settings.pull_timeout_s)
        except PodmanError as exc:
            raise DriverError(
                f"task {cfg.id}: image {image!r} is not on this node and pulling it failed: "
                f"{exc.reason} (load it with `podman load` / `podman import`, or make its "
                "registry reachable)"
            ) from exc

    def _follower(self, handle: TaskHandle, cid: str) -> tuple[int, int]:
        known = self._followers.get(cid)
        if known is not None:
            return known
        pid, ticks = handle.state.get("follower_pid"), handle.state.get("follower_ticks")
        return (pid, ticks) if isinstance(pid, int) and isinstance(ticks, int) else (0, 0)

    def recover(self, handle: TaskHandle) -> bool:
        cid = handle.state.get("container_id")
        if handle.driver != self.name or not isinstance(cid, str) or not cid:
            return False
        info = self.podman.inspect(cid)
        if info is None:
            return False
        labels = info.get("Config", {}).get("Labels") or {}
        if labels.get(spec.ALLOC_LABEL) != handle.alloc_id or (
            labels.get(spec.TASK_LABEL) != handle.task_name
        ):
            return False
        pid, ticks = self._follower(handle, cid)
        if info.get("State", {}).get("Running") and not follower.alive(pid, ticks):
            # The follower was killed while the agent was down: follow from now on.
            since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            out, err = str(handle.state["stdout_path"]), str(handle.state["stderr_path"])
            binary = self.podman.binary() or self.settings.podman_path
            self._followers[cid] = follower.spawn(binary, cid, out, err, since)
        return True

    def wait(self, handle: TaskHandle, timeout: float | None = None) -> ExitResult | None:
        cid = _container(handle)
        if cid in self._results:
            return self._results[cid]
        deadline = None if timeout is None else time.monotonic() + timeout
        pid, ticks = self._follower(handle, cid)
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = FOLLOWER_CHECK_S if left is None else min(left, FOLLOWER_CHECK_S)
            if follower.wait_gone(pid, ticks, step):
                follower.reap(pid, ticks)
                return self._exited(handle, cid, deadline)
            if step >= FOLLOWER_CHECK_S and not self._running(handle, cid):
                # The container stopped but the follower lingers: let it drain, then end it.
                follower.wait_gone(pid, ticks, DRAIN_GRACE_S)
                follower.kill(pid, ticks)
                return self._exited(handle, cid, deadline)
            if left is not None and left <= step:
                return None

    def _running(self, handle: TaskHandle, cid: str) -> bool:
        info = self.podman.inspect(cid)
        if info is None:
            raise DriverError(f"task {handle.id}: container {cid[:12]} no longer exists")
        return bool(info.get("State", {}).get("Running"))

    def _exited(self, handle: TaskHandle, cid: str, deadline: float | None) -> ExitResult | None:
        """The result once podman reports the container stopped (polling until
        ``deadline``: the follower can end a moment before podman's state changes)."""
        while True:
            info = self.podman.inspect(cid)
            if info is None:
                raise DriverError(f"task {handle.id}: container {cid[:12]} no longer exists")
            state = info.get("State", {})
            if not state.get("Running"):
                with self._lock:
                    return self._results.setdefault(cid, exit_result(state))
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def stop(self, handle: TaskHandle, signal: str, timeout: float) -> None:
        signum = signal_number(handle, signal)
        cid = _container(handle)
        if self.podman.inspect(cid) is None or self.wait(handle, 0) is not None:
            return
        if not self.podman.kill(cid, signum) or self.wait(handle, timeout) is not None:
            self.wait(handle, KILL_WAIT_S)
            return
        self.podman.kill(cid, signals.SIGKILL)
        if self.wait(handle, KILL_WAIT_S) is None:
            raise DriverError(f"task {handle.id}: still running {KILL_WAIT_S}s after SIGKILL")

    def signal(self, handle: TaskHandle, sig: str) -> None:
        signum = signal_number(handle, sig)
        cid = _container(handle)
        if not self._running(handle, cid) or not self.podman.kill(cid, signum):
            raise DriverError(f"task {handle.id}: cannot deliver {sig}: task is not running")

    def destroy(self, handle: TaskHandle, force: bool = False) -> None:
        cid = _container(handle)
        info = self.podman.inspect(cid)
        if info is not None and info.get("State", {}).get("Running"):
            if not force:
                raise DriverError(
                    f"task {handle.id} is still running: stop it first or destroy with force"
                )
            self.podman.kill(cid, signals.SIGKILL)
            self.wait(handle, KILL_WAIT_S)
        if info is not None:
            self.podman.remove(cid)
        follower.kill(*self._follower(handle, cid))
        with self._lock:
            self._results.pop(cid, None)
            self._followers.pop(cid, None)
            self._cpu.pop(cid, None)

    # -- observation -----------------------------------------------------------------

    def inspect(self, handle: TaskHandle) -> TaskStatus:
        cid = _container(handle)
        info = self.podman.inspect(cid)
        if info is None:
            raise DriverError(f"task {handle.id}: container {cid[:12]} no longer exists")
        state = info.get("State", {})
        running = bool(state.get("Running"))
        result = None if running else (self.wait(handle, KILL_WAIT_S) or exit_result(state))
        return TaskStatus(
            alloc_id=handle.alloc_id,
            task_name=handle.task_name,
            driver=self.name,
            state="running" if running else "exited",
            pid=int(state.get("Pid") or 0),
            started_at_ns=handle.started_at_ns,
            exit_result=result,
            attributes={"container_id": cid, "image": str(info.get("ImageName", ""))},
        )

    def stats(self, handle: TaskHandle) -> TaskStats:
        cid = _container(handle)
        now = time.time_ns()
        raw = self.podman.stats(cid)
        if raw is None:
            return TaskStats(timestamp_ns=now)
        total, system = int(raw.get("CPUNano") or 0), int(raw.get("CPUSystemNano") or 0)
        previous = self._cpu.get(cid)
        percent = 0.0
        if previous is not None and now > previous[0]:
            percent = 100.0 * (total - previous[1]) / (now - previous[0])
        self._cpu[cid] = (now, total)
        memory = int(raw.get("MemUsage") or 0)
        return TaskStats(
            timestamp_ns=now,
            cpu_user_s=max(0, total - system) / 1e9,
            cpu_system_s=system / 1e9,
            cpu_percent=max(0.0, percent),
            memory_rss_bytes=memory,
            memory_usage_bytes=memory,
        )

    def exec(self, handle: TaskHandle, cmd: Sequence[str], timeout: float) -> tuple[bytes, int]:
        cid = _container(handle)
        if not cmd:
            raise DriverError(f"task {handle.id}: exec needs a command")
        if not self._running(handle, cid):
            raise DriverError(f"task {handle.id}: cannot exec {cmd[0]!r}: task is not running")
        binary = self.podman.binary() or self.settings.podman_path
        try:
            done = subprocess.run(
                [binary, "exec", cid, *cmd],
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
        return done.stdout, done.returncode
